/// <reference lib="deno.worker" />
/**
 * Worker for bench/sys_bench.ts: waits on eventfd `ping` with a blocking FFI
 * poll, drains it and signals eventfd `pong`, until the shared stop flag is set.
 *
 * @module
 */
import { eventfdRead, eventfdWrite } from "../sys/eventfd.ts";
import { poll, POLLIN } from "../sys/poll.ts";

self.onmessage = (e: MessageEvent<{ ping: number; pong: number; stop: SharedArrayBuffer }>) => {
  const { ping, pong } = e.data;
  const stop = new Int32Array(e.data.stop);
  const set = [{ fd: ping, events: POLLIN, revents: 0 }];
  self.postMessage("ready");
  while (Atomics.load(stop, 0) === 0) {
    if (poll(set, 100) === 0) continue;
    eventfdRead(ping);
    eventfdWrite(pong);
  }
  self.close();
};
