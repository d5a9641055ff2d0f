/**
 * Notification latency of the sys/ FFI: an eventfd signal from one thread
 * wakes a blocking poll(2) in another, which answers on a second eventfd.
 * Each iteration is one round trip (two wake-ups); one-way latency is half.
 *
 *   deno bench -A bench/sys_bench.ts
 *
 * @module
 */
import { eventfd, eventfdRead, eventfdWrite } from "../sys/eventfd.ts";
import { poll, POLLIN } from "../sys/poll.ts";
import { close } from "../sys/socket.ts";

function startEcho(ping: number, pong: number, stop: SharedArrayBuffer): Promise<Worker> {
  const w = new Worker(new URL("./_eventfd_echo_worker.ts", import.meta.url), { type: "module" });
  return new Promise((resolve) => {
    w.onmessage = () => resolve(w);
    w.postMessage({ ping, pong, stop });
  });
}

const stop = new SharedArrayBuffer(4);
const ping = eventfd({ nonblocking: true });
const pong = eventfd({ nonblocking: true });
const worker = await startEcho(ping, pong, stop);

// Worker <-> Worker: a second pair of echo workers, chained: main kicks A, A's answer
// wakes B, B's answer comes back to main. Subtracting the main<->Worker round trip
// from this leaves one Worker->Worker hop plus one main wake.
const mid = eventfd({ nonblocking: true });
const back = eventfd({ nonblocking: true });
const ping2 = eventfd({ nonblocking: true });
const wA = await startEcho(ping2, mid, stop);
const wB = await startEcho(mid, back, stop);

const waitPong = [{ fd: pong, events: POLLIN, revents: 0 }];
const waitBack = [{ fd: back, events: POLLIN, revents: 0 }];

Deno.bench("eventfd round trip main -> Worker -> main (blocking poll both sides)", () => {
  eventfdWrite(ping);
  while (poll(waitPong, 1000) === 0) { /* keep waiting */ }
  eventfdRead(pong);
});

Deno.bench("eventfd chain main -> Worker -> Worker -> main", () => {
  eventfdWrite(ping2);
  while (poll(waitBack, 1000) === 0) { /* keep waiting */ }
  eventfdRead(back);
});

globalThis.addEventListener("unload", () => {
  Atomics.store(new Int32Array(stop), 0, 1);
  for (const w of [worker, wA, wB]) w.terminate();
  for (const fd of [ping, pong, mid, back, ping2]) close(fd);
});
