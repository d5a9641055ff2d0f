/**
 * The control array shared by a {@linkcode Recorder}'s producer thread and
 * its writer Worker (engine/_recorder_writer.ts): one layout both import,
 * kept apart from the writer module, which starts serving when it loads.
 *
 * @module
 */

/** Indices into the control array. */
export const RING = Object.freeze({
  /** Chunks sealed by the producer. */
  SEALED: 0,
  /** Chunks written and handed back by the writer. */
  WRITTEN: 1,
  /** 1 once the producer has closed: write everything and stop. */
  CLOSED: 2,
  /** 1 once the writer has stopped (everything is on disk or it failed). */
  DONE: 3,
  /** Bumped by the producer to wake the writer early. */
  WAKE: 4,
  /** Bytes the writer failed on (0: none). */
  FAILED: 5,
  /**
   * Written with O_DIRECT: 1 while it is, 0 otherwise. The producer stores
   * {@linkcode DIRECT_IO_STOP} to ask for buffered writes from here on
   * (before it writes an outsize block itself); the writer answers 0.
   */
  DIRECT_IO: 6,
  /** Published length of chunk k at LENGTHS + k. */
  LENGTHS: 8,
});

/** {@linkcode RING}.DIRECT_IO: the producer's request to stop direct I/O. */
export const DIRECT_IO_STOP = 2;
