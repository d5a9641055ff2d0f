import assert from "node:assert/strict";
import { GuestMemory } from "./guest_memory.ts";
import { inspectRing, renderRingReport } from "./view.ts";
import { makePair } from "./_sim_test_util.ts";

function fixture(name: string): GuestMemory {
  const bytes = Deno.readFileSync(new URL(`../testdata/rings/${name}`, import.meta.url));
  return new GuestMemory([{ guestAddr: 0x10000n, size: bytes.length, userAddr: 0n, bytes }]);
}

Deno.test("view: split fixture shows the seed's picture", () => {
  const r = inspectRing(fixture("split.bin"), {
    layout: "split",
    size: 8,
    desc: 0x10000n,
    driver: 0x10080n,
    device: 0x10098n,
  });
  assert.deepEqual(r.descriptors[0], {
    index: 0,
    addr: "0x11000",
    len: 0x200,
    flags: 3,
    flagNames: ["NEXT", "WRITE"],
    next: 1,
  });
  assert.equal(r.avail?.idx, 3);
  assert.deepEqual(r.avail?.ring.slice(0, 3), [0, 2, 5]);
  assert.equal(r.used?.idx, 1);
  assert.deepEqual(r.used?.ring[0], { id: 0, len: 0x230 });
  assert.deepEqual(r.inFlight, [
    { head: 2, descriptors: ["2", "3", "4"], readable: 0x28, writable: 0x100 },
    { head: 5, descriptors: ["5"], readable: 0, writable: 0x80 },
  ]);
  const text = renderRingReport(r);
  assert.match(text, /^split virtqueue, size 8: descriptor table 0x10000/);
  assert.match(text, /\[0\] id 0 len 0x230/);
  assert.match(text, /in flight: 2 chains \(avail idx 3 - used idx 1\)/);
  assert.match(text, /head 2: 2 -> 3 -> 4 {3}readable 0x28, writable 0x100/);
});

Deno.test("view: packed fixture separates used, tail and available descriptors", () => {
  const r = inspectRing(fixture("packed.bin"), {
    layout: "packed",
    size: 8,
    desc: 0x10000n,
    driver: 0x10080n,
    device: 0x10084n,
  });
  assert.deepEqual(r.descriptors.slice(0, 3).map((d) => d.state), [
    "used(wrap 1)",
    "tail of used id 0",
    "available(wrap 1)",
  ]);
  assert.deepEqual(r.inFlight.map((c) => [c.head, c.id, c.descriptors.join(",")]), [
    [2, 1, "2,3,4"],
    [5, 2, "5"],
  ]);
  assert.equal(r.events?.driver.flags, "ENABLE");
  assert.match(renderRingReport(r), /pos 2 id 1: 2 -> 3 -> 4/);
});

Deno.test("view: indirect chains and malformed chains are shown, not thrown", () => {
  const { mem, config, drv } = makePair("split", 8, { indirect: true, indirectMode: "always" });
  drv.add([new Uint8Array(10), new Uint8Array(6)], [32]);
  const params = { layout: "split" as const, ...config };
  let r = inspectRing(mem, params);
  assert.deepEqual(r.inFlight[0].descriptors, ["0", "i0.0", "i0.1", "i0.2"]);
  assert.equal(r.inFlight[0].readable, 16);
  assert.equal(r.inFlight[0].writable, 32);
  // make descriptor 0 a loop onto itself
  const d0 = Number(config.desc);
  mem.writeU16(d0 + 12, 1);
  mem.writeU16(d0 + 14, 0);
  r = inspectRing(mem, params);
  assert.match(r.inFlight[0].error ?? "", /loops/);
  assert.match(renderRingReport(r), /MALFORMED/);
  assert.throws(() => inspectRing(mem, { ...params, desc: 0n }), RangeError);
});
