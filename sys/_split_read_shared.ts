/**
 * The shared-memory layout and the chunk claiming that
 * {@linkcode SplitReadIoVecList} (sys/split_read.ts) and its helper Worker
 * both use. After the iovec store: a control word block, then per chunk its
 * first iovec, iovec count, done mark (the job's generation), file offset
 * and result (bytes, or -errno).
 *
 * @module
 */
import { preadv } from "./fs.ts";
import { SysError } from "./libc.ts";

/** Target bytes per chunk. */
export const CHUNK_BYTES = 64 * 1024;
/** Most chunks per read (a larger plan stays one `preadv`). */
export const MAX_CHUNKS = 64;

/** Control word: the job's generation << 10 | the next chunk to claim; CLOSED between jobs. */
export const CLAIM = 0;
/** Control word: the file descriptor of the job. */
export const FD = 1;
/** Control word: the job's chunk count. */
export const N = 2;
/** Control word: 1 tells the helper to end. */
export const STOP = 3;
/** Control word the helper sleeps on; bumped for every job. */
export const WAKE = 4;
/** Control words in all. */
export const CTL_WORDS = 8;
/** The claim word's value between jobs: no generation matches it. */
export const CLOSED = -1;

const INTS = CTL_WORDS + 3 * MAX_CHUNKS;
/** Bytes of the control block and chunk tables. */
export const LAYOUT_BYTES = 4 * INTS + 16 * MAX_CHUNKS;

/** Views of the control block and chunk tables at byte `base` of `shared`. */
export function layoutOf(shared: SharedArrayBuffer, base: number) {
  const floats = base + 4 * INTS;
  return {
    ctl: new Int32Array(shared, base, CTL_WORDS),
    first: new Int32Array(shared, base + 4 * CTL_WORDS, MAX_CHUNKS),
    count: new Int32Array(shared, base + 4 * (CTL_WORDS + MAX_CHUNKS), MAX_CHUNKS),
    done: new Int32Array(shared, base + 4 * (CTL_WORDS + 2 * MAX_CHUNKS), MAX_CHUNKS),
    offset: new Float64Array(shared, floats, MAX_CHUNKS),
    result: new Float64Array(shared, floats + 8 * MAX_CHUNKS, MAX_CHUNKS),
  };
}

/**
 * Claims the next chunk of job `gen`; -1 when none is left or the job is
 * over. The compare-exchange on one word holding both the generation and
 * the index makes every chunk read exactly once, by one thread.
 */
export function claimChunk(ctl: Int32Array, gen: number): number {
  for (;;) {
    const c = Atomics.load(ctl, CLAIM);
    if (c === CLOSED || (c >>> 10) !== gen) return -1;
    const next = c & 1023;
    if (next >= Atomics.load(ctl, N)) return -1;
    if (Atomics.compareExchange(ctl, CLAIM, c, c + 1) === c) return next;
  }
}

/** `preadv` of chunk `i` (iovecs `first`.. in `iov`); its result (bytes or -errno) goes to `result[i]`. */
export function readChunk(
  iov: Uint8Array,
  fd: number,
  first: number,
  count: number,
  offset: number,
  result: Float64Array,
  i: number,
): void {
  try {
    result[i] = preadv(fd, iov.subarray(first * 16), count, offset);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    result[i] = -e.errno;
  }
}
