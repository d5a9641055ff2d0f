/**
 * The helper thread of {@linkcode SplitReadIoVecList} (sys/split_read.ts):
 * for every job it claims and reads chunks until none is left, then watches
 * the shared WAKE word for the next job for {@linkcode SPIN_MS} (yielding
 * its core every few rounds) and then sleeps on it. It posts nothing; the
 * caller reads the results from shared memory.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { IOV_MAX } from "./fs.ts";
import { schedYield } from "./poll.ts";
import {
  CLAIM,
  claimChunk,
  CLOSED,
  FD,
  layoutOf,
  readChunk,
  STOP,
  WAKE,
} from "./_split_read_shared.ts";

/**
 * After a job, how long the helper watches for the next before it sleeps: a
 * guest streaming a file sends its next large READ within this, and a futex
 * wake-up costs tens of us on a VM, a good part of the copy it would share.
 */
const SPIN_MS = 1;

self.onmessage = (e: MessageEvent<SharedArrayBuffer>) => {
  self.onmessage = null;
  const shared = e.data;
  const iov = new Uint8Array(shared, 0, IOV_MAX * 16);
  const l = layoutOf(shared, IOV_MAX * 16);
  const ctl = l.ctl;
  let seen = Atomics.load(ctl, WAKE);
  for (;;) {
    if (Atomics.load(ctl, STOP) === 1) break;
    const c = Atomics.load(ctl, CLAIM);
    if (c !== CLOSED) {
      const gen = c >>> 10;
      const fd = Atomics.load(ctl, FD);
      for (let i = claimChunk(ctl, gen); i >= 0; i = claimChunk(ctl, gen)) {
        readChunk(iov, fd, l.first[i], l.count[i], l.offset[i], l.result, i);
        Atomics.store(l.done, i, gen);
        Atomics.notify(l.done, i);
      }
    }
    const until = performance.now() + SPIN_MS;
    for (let k = 1; Atomics.load(ctl, WAKE) === seen && performance.now() < until; k++) {
      if ((k & 15) === 0) schedYield();
    }
    Atomics.wait(ctl, WAKE, seen);
    seen = Atomics.load(ctl, WAKE);
  }
  self.close();
};
