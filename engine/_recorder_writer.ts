/**
 * The capture writer Worker of a {@linkcode Recorder} opened with a writer
 * thread: it writes what the recording thread published in a ring of
 * SharedArrayBuffer chunks to the file, so that the thread serving requests
 * never blocks in write(2).
 *
 * Shared state (Int32Array `ctrl`, see {@linkcode RING}): the producer fills
 * chunk `P % chunks` and publishes its length after every whole pcapng block;
 * when a chunk is full it seals it (P + 1). This Worker writes each chunk's
 * published bytes as they appear, waking at least every `intervalMs`, and
 * hands a sealed chunk back (W + 1) once it is on disk. Only whole blocks are
 * ever published, so a process killed with SIGKILL leaves a file that reads
 * up to its last complete block, and at most `intervalMs` plus one write of
 * data is held.
 *
 * With `directIo` the file is written with O_DIRECT where its file system
 * allows it (engine/_direct_file.ts).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { DirectFile } from "./_direct_file.ts";
import { DIRECT_IO_STOP, RING } from "./_recorder_ring.ts";

/** What the producer posts once. */
export interface WriterInit {
  /** The capture file (opened for appending). */
  path: string;
  /** The chunks' memory. */
  data: SharedArrayBuffer;
  /** The control array's memory. */
  ctrl: SharedArrayBuffer;
  /** Chunk count. */
  chunks: number;
  /** Bytes per chunk. */
  chunkBytes: number;
  /** Longest time between looks at the ring, ms. */
  intervalMs: number;
  /** Write with O_DIRECT where the file system allows it. */
  directIo?: boolean;
}

function run(m: WriterInit): void {
  const ctrl = new Int32Array(m.ctrl);
  const data = new Uint8Array(m.data);
  let direct = m.directIo ? DirectFile.open(m.path) : null;
  let file = direct === null ? Deno.openSync(m.path, { write: true, append: true }) : null;
  Atomics.store(ctrl, RING.DIRECT_IO, direct === null ? 0 : 1);
  let done = 0; // bytes of the current chunk already written
  const write = (from: number, to: number) => {
    if (direct !== null) {
      direct.write(data.subarray(from, to));
      return;
    }
    let p = from;
    while (p < to) p += file!.writeSync(data.subarray(p, to));
  };
  try {
    for (;;) {
      if (direct !== null && Atomics.load(ctrl, RING.DIRECT_IO) === DIRECT_IO_STOP) {
        // the producer writes an outsize block itself next: hand over a file of exact length
        direct.close();
        direct = null;
        file = Deno.openSync(m.path, { write: true, append: true });
        Atomics.store(ctrl, RING.DIRECT_IO, 0);
        Atomics.notify(ctrl, RING.DIRECT_IO);
      }
      const wake = Atomics.load(ctrl, RING.WAKE);
      const w = Atomics.load(ctrl, RING.WRITTEN);
      const c = w % m.chunks;
      const base = c * m.chunkBytes;
      const sealed = Atomics.load(ctrl, RING.SEALED) > w;
      // read after `sealed`: the producer publishes the final length before it seals
      const len = Atomics.load(ctrl, RING.LENGTHS + c);
      if (len > done) {
        write(base + done, base + len);
        done = len;
      }
      if (sealed) {
        Atomics.store(ctrl, RING.LENGTHS + c, 0);
        done = 0;
        Atomics.store(ctrl, RING.WRITTEN, w + 1);
        Atomics.notify(ctrl, RING.WRITTEN);
        continue;
      }
      if (Atomics.load(ctrl, RING.CLOSED) !== 0) {
        // chunks sealed since this look began are written first (the loop again)
        if (Atomics.load(ctrl, RING.SEALED) > w) continue;
        // a last look: anything published before CLOSED was set is seen now
        const last = Atomics.load(ctrl, RING.LENGTHS + c);
        if (last > done) write(base + done, base + last);
        break;
      }
      // the partial last page goes to disk (and the file to its true length) at every look
      direct?.sync();
      Atomics.wait(ctrl, RING.WAKE, wake, m.intervalMs);
    }
  } catch (e) {
    Atomics.store(ctrl, RING.FAILED, 1);
    console.error(`ringside recorder: writing ${m.path} failed: ${(e as Error).message}`);
  } finally {
    try {
      direct?.close();
    } catch (e) {
      Atomics.store(ctrl, RING.FAILED, 1);
      console.error(`ringside recorder: finishing ${m.path} failed: ${(e as Error).message}`);
    }
    file?.close();
    Atomics.store(ctrl, RING.DIRECT_IO, 0);
    Atomics.notify(ctrl, RING.DIRECT_IO);
    Atomics.store(ctrl, RING.DONE, 1);
    Atomics.notify(ctrl, RING.DONE);
  }
}

self.onmessage = (e: MessageEvent<WriterInit>) => {
  run(e.data);
  self.close();
};
