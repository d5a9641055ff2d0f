/**
 * The round-trip split of bench/roundtrip_bench.ts over a trace written the
 * way `perf script -F comm,tid,time,event,trace` prints one (times in s).
 */
import assert from "node:assert/strict";
import { parsePerfScript, roundTrips, summarize } from "./roundtrip_bench.ts";

/** One `perf script` line at `t` µs. */
function at(t: number, comm: string, tid: number, event: string, trace: string): string {
  return `${comm.padStart(16)} ${tid} ${(1000 + t / 1e6).toFixed(6)}: syscalls:${event}: ${trace}`;
}
const fd = (n: number) => `fd: 0x${n.toString(16).padStart(8, "0")}, buf: 0x7f00, count: 0x8`;
const Q = "qemu-system-x86";
const VCPU = 11, MAIN = 10, BACK = 20;

function trace(): string {
  const l: string[] = [];
  // QEMU's own notifier on fd 7, written and read as often as the kick: noise
  for (let i = 0; i < 4; i++) {
    l.push(at(5 + 1000 * i, Q, VCPU, "sys_enter_write", fd(7)));
    l.push(at(6 + 1000 * i, Q, MAIN, "sys_enter_read", fd(7)));
  }
  // 1: slept in poll; kick at 100, awake at 140, pwritev 160-560, call 580, QEMU reads it at 610
  l.push(at(100, Q, VCPU, "sys_enter_write", fd(0x11)));
  l.push(at(140, "worker-1", BACK, "sys_exit_poll", "0x1"));
  l.push(at(145, "worker-1", BACK, "sys_enter_read", fd(5)));
  l.push(
    at(160, "worker-1", BACK, "sys_enter_pwritev", "fd: 0x0000002e, vec: 0x7f00, vlen: 0x100"),
  );
  l.push(at(560, "worker-1", BACK, "sys_exit_pwritev", "0x100000"));
  l.push(at(580, "worker-1", BACK, "sys_enter_write", fd(6)));
  l.push(at(610, Q, MAIN, "sys_enter_read", fd(0x13)));
  // 2: caught while polling (its last poll exit is before the kick); two preadv chunks
  l.push(at(1100, "worker-1", BACK, "sys_exit_poll", "0x0"));
  l.push(at(1200, Q, VCPU, "sys_enter_write", fd(0x11)));
  l.push(at(1205, "worker-1", BACK, "sys_enter_read", fd(5)));
  l.push(at(1210, "worker-1", BACK, "sys_enter_preadv", "fd: 0x0000002e, vec: 0x7f00, vlen: 0x20"));
  l.push(at(1240, "worker-1", BACK, "sys_exit_preadv", "0x10000"));
  l.push(at(1241, "worker-1", BACK, "sys_enter_preadv", "fd: 0x0000002e, vec: 0x7f00, vlen: 0x20"));
  l.push(at(1270, "worker-1", BACK, "sys_exit_preadv", "0x10000"));
  l.push(at(1275, "worker-1", BACK, "sys_enter_write", fd(6)));
  l.push(at(1290, Q, MAIN, "sys_enter_read", fd(0x13)));
  // 3: a kick with no file I/O (a GETATTR): no trip
  l.push(at(2100, Q, VCPU, "sys_enter_write", fd(0x11)));
  l.push(at(2120, "worker-1", BACK, "sys_exit_poll", "0x1"));
  l.push(at(2121, "worker-1", BACK, "sys_enter_read", fd(5)));
  l.push(at(2130, "worker-1", BACK, "sys_enter_write", fd(6)));
  l.push(at(2150, Q, MAIN, "sys_enter_read", fd(0x13)));
  // a thread name with a space, doing nothing of interest
  l.push(at(2200, "V8 DefaultWorke", 21, "sys_enter_write", fd(9)));
  l.push("not a perf line");
  return l.join("\n");
}

Deno.test("perf script lines: thread names with spaces, fds, times in µs", () => {
  const calls = parsePerfScript(trace());
  assert.equal(calls.length, 30);
  const v8 = calls.find((c) => c.tid === 21)!;
  assert.equal(v8.comm, "V8 DefaultWorke");
  assert.equal(v8.fd, 9);
  const first = calls.find((c) => c.event === "sys_exit_poll")!;
  assert.ok(Math.abs(first.us - (1000e6 + 140)) < 0.01);
  assert.equal(first.fd, undefined);
});

Deno.test("round trips: each kick with file I/O split into its phases", () => {
  const trips = roundTrips(parsePerfScript(trace()));
  assert.equal(trips.length, 2);
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 0.01, `${a} != ${b}`);
  const [w, r] = trips;
  assert.equal(w.op, "write");
  near(w.wake, 40);
  near(w.prepare, 20);
  near(w.io, 400);
  near(w.reply, 20);
  near(w.deliver, 30);
  near(w.total, 510);
  assert.equal(r.op, "read");
  near(r.wake, 0); // caught while polling
  near(r.prepare, 10);
  near(r.io, 60); // both chunks
  near(r.reply, 5);
  near(r.deliver, 15);
  near(r.total, 90);
  const s = summarize([w]);
  near(s.total.p50, 510);
  near(s.io.mean, 400);
});

Deno.test("round trips: a trace without file I/O outside QEMU is an error", () => {
  const calls = parsePerfScript(trace()).filter((c) => !c.event.includes("pwritev"))
    .filter((c) => !c.event.includes("preadv"));
  assert.throws(() => roundTrips(calls), /no pwritev\/preadv/);
});
