import assert from "node:assert/strict";
import { prng } from "../testing/fuzz.ts";
import { makePair, replyFor } from "./_sim_test_util.ts";
import type { DescChain } from "./chain.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import { SplitDeviceQueue } from "./split_device.ts";
import type { RingLayout } from "./types.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Runs a driver and a device that each sleep until notified: the device
 * sleeps after enableKicks() says nothing arrived, the driver collects used
 * buffers only when interrupted. A lost kick or interrupt stalls the
 * simulation, which the test detects.
 */
function simulate(
  layout: RingLayout,
  options: { size: number; eventIdx: boolean; indirect: boolean; ops: number; seed: number },
): { kicks: number; interrupts: number; completed: number; split: SplitDeviceQueue | undefined } {
  const rnd = prng(options.seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const { drv, dev } = makePair(layout, options.size, {
    eventIdx: options.eventIdx,
    indirect: options.indirect,
    indirectMode: "multi",
  });
  const expected = new Map<number, { request: Uint8Array; capacity: number }>();
  const pending: DescChain[] = [];
  let deviceAwake = false;
  let irq = false;
  let kicks = 0;
  let interrupts = 0;
  let completed = 0;
  let stalled = 0;
  let nextByte = 0;
  while (completed < options.ops) {
    let progress = false;
    // driver: add a random batch while there is room
    const batch = 1 + int(4);
    for (let b = 0; b < batch; b++) {
      const nr = int(3);
      const nw = 1 + int(2);
      const readable: Uint8Array[] = [];
      for (let k = 0; k < nr; k++) {
        const p = new Uint8Array(int(40));
        for (let i = 0; i < p.length; i++) p[i] = nextByte++ & 255;
        readable.push(p);
      }
      const sizes: number[] = [];
      for (let k = 0; k < nw; k++) sizes.push(1 + int(48));
      const token = drv.add(readable, sizes);
      if (token === null) break;
      progress = true;
      expected.set(token, {
        request: concat(readable),
        capacity: sizes.reduce((a, c) => a + c, 0),
      });
    }
    if (drv.kickNeeded()) {
      kicks++;
      deviceAwake = true;
    }
    // device: drain, complete a random subset out of order, then maybe sleep
    if (deviceAwake) {
      dev.disableKicks();
      for (let c = dev.pop(); c !== null; c = dev.pop()) pending.push(c);
      const n = pending.length === 0 ? 0 : 1 + int(pending.length);
      for (let k = 0; k < n; k++) {
        const [c] = pending.splice(int(pending.length), 1);
        const req = c.readAll();
        dev.push(c, c.write(replyFor(req, c.writableLength)));
        progress = true;
      }
      if (dev.needsInterrupt()) {
        interrupts++;
        irq = true;
      }
      if (pending.length === 0 && !dev.enableKicks()) deviceAwake = false;
    }
    // driver: collect on interrupt
    if (irq) {
      irq = false;
      for (;;) {
        drv.disableInterrupts();
        for (const u of drv.takeUsed()) {
          const e = expected.get(u.token);
          assert.ok(e, `token ${u.token} was in flight`);
          expected.delete(u.token);
          const want = replyFor(e.request, e.capacity);
          assert.equal(u.len, want.length);
          assert.deepEqual(u.written, want);
          completed++;
          progress = true;
        }
        if (!drv.enableInterrupts()) break;
      }
    }
    stalled = progress ? 0 : stalled + 1;
    assert.ok(stalled < 3, `stalled with ${drv.inFlight} in flight: a notification was lost`);
  }
  assert.equal(dev.needsReset, undefined);
  assert.equal(dev.malformed, 0);
  return {
    kicks,
    interrupts,
    completed,
    split: dev instanceof SplitDeviceQueue ? dev : undefined,
  };
}

for (const layout of ["split", "packed"] as const) {
  for (const indirect of [false, true]) {
    for (const eventIdx of [false, true]) {
      Deno.test(`${layout} ring, indirect ${indirect ? "on" : "off"}, event idx ${eventIdx ? "on" : "off"}: driver and device agree across index wrap`, () => {
        const size = layout === "split" ? 16 : 13; // packed sizes need not be powers of two
        // split: past the u16 wrap of avail and used idx; packed: many wrap-counter flips
        const ops = layout === "split" ? 65536 + 3 * size + 50 : 400 * size;
        const r = simulate(layout, { size, eventIdx, indirect, ops, seed: 7 + size });
        assert.ok(r.completed >= ops);
        if (r.split) {
          assert.ok(r.split.usedIdx < 0x1000, "the used index wrapped past 65535");
          assert.equal(r.split.lastAvailIdx >= r.split.usedIdx, true);
        }
        // suppression works: fewer kicks and interrupts than buffers
        assert.ok(r.kicks < r.completed, `kicks ${r.kicks} < buffers ${r.completed}`);
        assert.ok(r.interrupts < r.completed);
      });
    }
  }
}

Deno.test("packed ring: the wrap counters flip and the base round-trips", () => {
  const { drv, dev } = makePair("packed", 5);
  const q = dev as PackedDeviceQueue;
  assert.equal(q.getBase(), 0x80008000);
  for (let i = 0; i < 7; i++) {
    drv.add([], [4]); // one descriptor per chain
    const c = dev.pop()!;
    assert.equal(c.ringSlots, 1);
    dev.push(c, c.write(new Uint8Array([i, i])));
    assert.deepEqual(drv.takeUsed().map((u) => [...u.written]), [[i, i]]);
  }
  // 7 single-descriptor chains on a ring of 5: position 2, wrap counter flipped to 0
  assert.deepEqual(q.availState, { pos: 2, wrap: false });
  assert.deepEqual(q.usedState, { pos: 2, wrap: false });
  assert.equal(q.getBase(), 0x00020002);
  const { mem, config } = makePair("packed", 5);
  const again = new PackedDeviceQueue(mem, config, { base: q.getBase() });
  assert.deepEqual(again.availState, { pos: 2, wrap: false });
  assert.equal(again.getBase(), 0x00020002);
});

Deno.test("split ring: base sets last_avail_idx and the used index continues from memory", () => {
  const { mem, config, drv, dev } = makePair("split", 8);
  for (let i = 0; i < 3; i++) drv.add([new Uint8Array(1)], [1]);
  dev.push(dev.pop()!, 0);
  assert.equal(dev.getBase(), 1);
  const resumed = new SplitDeviceQueue(mem, config, { base: dev.getBase() });
  assert.equal(resumed.usedIdx, 1);
  let n = 0;
  for (let c = resumed.pop(); c !== null; c = resumed.pop()) n++;
  assert.equal(n, 2);
});

Deno.test("split ring: a chain object is reused once pushed, never while it is out", () => {
  const { mem, config, drv, dev } = makePair("split", 8);
  // a four-buffer request, then one-buffer ones: a reused chain keeps no segment of the last
  const big = [
    new Uint8Array([1, 2]),
    new Uint8Array([3]),
    new Uint8Array([4, 5]),
    new Uint8Array([6]),
  ];
  drv.add(big, [8]);
  const first = dev.pop()!;
  assert.deepEqual([...first.readAll()], [1, 2, 3, 4, 5, 6]);
  assert.equal(first.rCount, 4);
  dev.push(first, first.write(new Uint8Array([9])));
  drv.takeUsed();
  const seen = new Map<number, DescChain>([[first.id, first]]);
  let reused = 0;
  for (let i = 0; i < 12; i++) {
    drv.add([new Uint8Array([i])], [4, 4]);
    const c = dev.pop()!;
    if (seen.get(c.id) === c) reused++;
    seen.set(c.id, c);
    assert.equal(c.rCount, 1);
    assert.equal(c.wCount, 2);
    assert.equal(c.readableLength, 1);
    assert.equal(c.writableLength, 8);
    assert.equal(c.written, 0);
    assert.deepEqual([...c.readAll()], [i]);
    dev.push(c, c.write(new Uint8Array([i, i])));
    assert.deepEqual([...drv.takeUsed()[0].written], [i, i]);
  }
  assert.ok(reused >= 8, `only ${reused} of 12 chains were reused`);
  // a driver that offers a head again before it came back gets a fresh chain;
  // the one still out keeps its buffers
  drv.add([new Uint8Array([7, 7])], [4]);
  const out = dev.pop()!;
  const avail = Number(config.driver);
  const idx = mem.readU16(avail + 2);
  mem.writeU16(avail + 4 + 2 * (idx % config.size), out.id);
  mem.writeU16(avail + 2, idx + 1);
  const again = dev.pop()!;
  assert.equal(again.id, out.id);
  assert.notEqual(again, out);
  assert.deepEqual([...out.readAll()], [7, 7]);
  dev.push(again, 0);
  dev.push(out, 0);
});

Deno.test("chains: random layouts are read and written byte-exactly", () => {
  const rnd = prng(12345);
  const int = (n: number) => Math.floor(rnd() * n);
  for (const layout of ["split", "packed"] as const) {
    for (const indirect of [false, true]) {
      const { drv, dev } = makePair(layout, 64, { indirect, indirectMode: "always" });
      for (let round = 0; round < 300; round++) {
        const total = int(300);
        const request = new Uint8Array(total);
        for (let i = 0; i < total; i++) request[i] = int(256);
        // random split points, zero-length parts included
        const cuts = Array.from({ length: int(6) }, () => int(total + 1)).sort((a, b) => a - b);
        const parts: Uint8Array[] = [];
        let prev = 0;
        for (const c of [...cuts, total]) {
          parts.push(request.slice(prev, c));
          prev = c;
        }
        const sizes = Array.from({ length: 1 + int(5) }, () => int(90));
        const capacity = sizes.reduce((a, b) => a + b, 0);
        const token = drv.add(parts, sizes);
        assert.notEqual(token, null);
        const c = dev.pop()!;
        assert.equal(c.readableLength, total);
        assert.equal(c.writableLength, capacity);
        assert.deepEqual(c.readAll(), request);
        const off = int(total + 1);
        const dst = new Uint8Array(int(total + 10));
        const got = c.readInto(dst, off);
        assert.equal(got, Math.min(dst.length, total - off));
        assert.deepEqual(dst.subarray(0, got), request.subarray(off, off + got));
        // reply given as several parts, crossing writable buffers anywhere
        const reply = replyFor(request, capacity);
        const rcut = int(reply.length + 1);
        const written = c.write([reply.subarray(0, rcut), reply.subarray(rcut)]);
        assert.equal(written, reply.length);
        dev.push(c);
        const [u] = drv.takeUsed();
        assert.equal(u.token, token);
        assert.equal(u.len, reply.length);
        assert.deepEqual(u.written, reply);
      }
    }
  }
});

Deno.test("chains: a one-buffer request is a view into guest memory, a reply too long is refused", () => {
  const { mem, drv, dev } = makePair("split", 8);
  drv.add([new Uint8Array([1, 2, 3])], [2]);
  const c = dev.pop()!;
  const v = c.readAll();
  assert.equal(v.buffer, mem.regions[0].bytes.buffer, "no copy for one readable buffer");
  assert.throws(() => c.write(new Uint8Array(3)), { name: "VirtqueueError" });
  assert.equal(c.write([new Uint8Array([9]), new Uint8Array([8])]), 2);
});

Deno.test("notifications: without EVENT_IDX the flags suppress kicks and interrupts", () => {
  for (const layout of ["split", "packed"] as const) {
    const { drv, dev } = makePair(layout, 8);
    drv.add([new Uint8Array(1)], [1]);
    assert.equal(drv.kickNeeded(), true);
    dev.disableKicks();
    drv.add([new Uint8Array(1)], [1]);
    assert.equal(drv.kickNeeded(), false, `${layout}: kicks disabled`);
    assert.equal(drv.kickNeeded(), false, "nothing new");
    const c = dev.pop()!;
    drv.disableInterrupts();
    dev.push(c, 0);
    assert.equal(dev.needsInterrupt(), false, `${layout}: interrupts disabled`);
    assert.equal(drv.enableInterrupts(), true, "a used buffer is waiting");
    dev.push(dev.pop()!, 0);
    assert.equal(dev.needsInterrupt(), true);
    assert.equal(dev.needsInterrupt(), false, "nothing pushed since");
    assert.equal(dev.enableKicks(), false);
    drv.takeUsed();
    drv.add([new Uint8Array(1)], [1]);
    assert.equal(drv.kickNeeded(), true);
  }
});

Deno.test("notifications: with EVENT_IDX the event index decides", () => {
  for (const layout of ["split", "packed"] as const) {
    const { drv, dev } = makePair(layout, 8, { eventIdx: true });
    dev.enableKicks();
    drv.enableInterrupts();
    drv.add([new Uint8Array(1)], [1]);
    assert.equal(drv.kickNeeded(), true, `${layout}: first buffer kicks`);
    drv.add([new Uint8Array(1)], [1]);
    assert.equal(drv.kickNeeded(), false, `${layout}: device has not caught up, no second kick`);
    const a = dev.pop()!;
    const b = dev.pop()!;
    assert.equal(dev.enableKicks(), false);
    drv.add([new Uint8Array(1)], [1]);
    assert.equal(drv.kickNeeded(), true, `${layout}: device re-armed, kick again`);
    dev.push(a, 0);
    assert.equal(dev.needsInterrupt(), true, `${layout}: first used interrupts`);
    dev.push(b, 0);
    assert.equal(dev.needsInterrupt(), false, `${layout}: driver has not collected yet`);
    assert.equal(drv.takeUsed().length, 2);
    dev.push(dev.pop()!, 0);
    assert.equal(dev.needsInterrupt(), true, `${layout}: driver re-armed`);
  }
});

Deno.test("notify on empty: an interrupt when the ring runs empty even if suppressed", () => {
  const { mem, config, drv } = makePair("split", 8);
  const dev = new SplitDeviceQueue(mem, { ...config, notifyOnEmpty: true });
  drv.add([new Uint8Array(1)], [1]);
  drv.add([new Uint8Array(1)], [1]);
  drv.disableInterrupts();
  dev.push(dev.pop()!, 0);
  assert.equal(dev.needsInterrupt(), false);
  dev.push(dev.pop()!, 0);
  assert.equal(dev.needsInterrupt(), true);
});

Deno.test("notifications: with EVENT_IDX, disabled kicks stay off while the device polls, even once re-armed", () => {
  for (const layout of ["split", "packed"] as const) {
    const { drv, dev } = makePair(layout, 8, { eventIdx: true });
    assert.equal(dev.enableKicks(), false);
    dev.disableKicks();
    for (let i = 0; i < 20; i++) {
      drv.add([new Uint8Array(1)], [1]);
      assert.equal(drv.kickNeeded(), false, `${layout}: buffer ${i} published while polling`);
      dev.push(dev.pop()!, 0);
      drv.takeUsed();
    }
    assert.equal(dev.enableKicks(), false, "nothing left behind");
    drv.add([new Uint8Array(1)], [1]);
    assert.equal(drv.kickNeeded(), true, `${layout}: re-enabled kicks notify again`);
  }
});
