import assert from "node:assert/strict";
import { GuestMemory } from "./guest_memory.ts";
import { SplitDeviceQueue } from "./split_device.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import type { VirtqueueError, VirtqueueErrorKind } from "./errors.ts";
import type { QueueConfig } from "./types.ts";

const SIZE = 8;
const BASE = 0x1000;
const DATA = 0x4000; // buffers live at 0x4000..0x8000
const END = 0x9000;

interface D {
  addr: number;
  len: number;
  flags: number;
  next?: number;
  id?: number;
}

function memory(): GuestMemory {
  return new GuestMemory([{
    guestAddr: BigInt(BASE),
    size: END - BASE,
    userAddr: 0n,
    bytes: new Uint8Array(END - BASE),
  }]);
}

const splitConfig: QueueConfig = {
  size: SIZE,
  desc: 0x1000n,
  driver: 0x1100n,
  device: 0x1200n,
  indirect: true,
};

function putDesc(mem: GuestMemory, at: number, d: D, packed = false): void {
  mem.writeU64(at, BigInt(d.addr));
  mem.writeU32(at + 8, d.len);
  if (packed) {
    mem.writeU16(at + 12, d.id ?? 0);
    mem.writeU16(at + 14, d.flags);
  } else {
    mem.writeU16(at + 12, d.flags);
    mem.writeU16(at + 14, d.next ?? 0);
  }
}

/** A split ring whose descriptors and available heads are written raw. */
function splitRing(descs: D[], heads: number[], availIdx = heads.length) {
  const mem = memory();
  descs.forEach((d, i) => putDesc(mem, 0x1000 + 16 * i, d));
  heads.forEach((h, i) => mem.writeU16(0x1100 + 4 + 2 * i, h));
  mem.writeU16(0x1102, availIdx);
  const errors: VirtqueueError[] = [];
  const q = new SplitDeviceQueue(mem, splitConfig, { onChainError: (e) => errors.push(e) });
  const used = () =>
    Array.from(
      { length: mem.readU16(0x1202) },
      (_, i) => [mem.readU32(0x1204 + 8 * i), mem.readU32(0x1208 + 8 * i)],
    );
  return { mem, q, errors, used };
}

const R = 0; // readable
const N = 1; // NEXT
const W = 2; // WRITE
const I = 4; // INDIRECT

/** Descriptor 7 is always a good one-buffer chain that must still be served. */
const GOOD: D = { addr: DATA, len: 16, flags: W };

function expectSplit(descs: D[], kind: VirtqueueErrorKind, setup?: (mem: GuestMemory) => void) {
  const table = [...descs];
  while (table.length < 7) table.push({ addr: DATA, len: 1, flags: R });
  table[7] = GOOD;
  const { mem, q, errors, used } = splitRing(table, [0, 7]);
  setup?.(mem);
  const c = q.pop();
  assert.ok(c !== null, `${kind}: the good chain after the bad one is served`);
  assert.equal(c.id, 7);
  assert.equal(c.writableLength, 16);
  assert.deepEqual(errors.map((e) => e.kind), [kind]);
  assert.equal(errors[0].head, 0);
  assert.equal(q.malformed, 1);
  assert.equal(q.needsReset, undefined);
  q.push(c, 3);
  assert.deepEqual(used(), [[0, 0], [7, 3]], `${kind}: bad chain returned with length 0`);
  assert.equal(q.pop(), null);
}

Deno.test("split malformed: descriptor loop", () => {
  expectSplit([{ addr: DATA, len: 4, flags: N, next: 1 }, {
    addr: DATA,
    len: 4,
    flags: N,
    next: 0,
  }], "loop");
});

Deno.test("split malformed: a loop inside an indirect table", () => {
  expectSplit([{ addr: 0x3000, len: 32, flags: I }], "loop", (mem) => {
    putDesc(mem, 0x3000, { addr: DATA, len: 4, flags: N, next: 1 });
    putDesc(mem, 0x3010, { addr: DATA, len: 4, flags: N, next: 0 });
  });
});

Deno.test("split malformed: chain longer than the queue (through an indirect table)", () => {
  expectSplit([{ addr: 0x3000, len: 16 * (SIZE + 1), flags: I }], "chain-too-long", (mem) => {
    for (let k = 0; k <= SIZE; k++) {
      putDesc(mem, 0x3000 + 16 * k, { addr: DATA, len: 4, flags: k < SIZE ? N : R, next: k + 1 });
    }
  });
});

Deno.test("split malformed: buffer address outside memory, including beyond 2^53", () => {
  expectSplit([{ addr: END - 8, len: 16, flags: R }], "address-out-of-memory");
  expectSplit([{ addr: 0, len: 16, flags: R }], "address-out-of-memory");
  expectSplit([{ addr: 2 ** 60, len: 16, flags: R }], "address-out-of-memory");
  expectSplit([{ addr: 0x9000_0000, len: 16, flags: I }], "address-out-of-memory");
});

Deno.test("split malformed: readable after writable", () => {
  expectSplit(
    [{ addr: DATA, len: 4, flags: W | N, next: 1 }, { addr: DATA, len: 4, flags: R }],
    "readable-after-writable",
  );
});

Deno.test("split malformed: indirect inside indirect", () => {
  expectSplit([{ addr: 0x3000, len: 32, flags: I }], "nested-indirect", (mem) => {
    putDesc(mem, 0x3000, { addr: DATA, len: 4, flags: N, next: 1 });
    putDesc(mem, 0x3010, { addr: 0x3000, len: 32, flags: I });
  });
});

Deno.test("split malformed: indirect with NEXT", () => {
  expectSplit([{ addr: 0x3000, len: 32, flags: I | N, next: 1 }], "indirect-with-next");
});

Deno.test("split malformed: zero-length and ragged indirect tables", () => {
  expectSplit([{ addr: 0x3000, len: 0, flags: I }], "bad-indirect-length");
  expectSplit([{ addr: 0x3000, len: 24, flags: I }], "bad-indirect-length");
});

Deno.test("split malformed: next index past the queue size", () => {
  expectSplit([{ addr: DATA, len: 4, flags: N, next: SIZE + 3 }], "index-out-of-range");
});

Deno.test("split: direct descriptors followed by one indirect descriptor are served (spec allows it)", () => {
  const { mem, q } = splitRing([{ addr: DATA, len: 4, flags: N, next: 1 }, {
    addr: 0x3000,
    len: 16,
    flags: I,
  }], [0]);
  putDesc(mem, 0x3000, { addr: DATA + 64, len: 8, flags: W });
  const c = q.pop()!;
  assert.equal(c.error, undefined);
  assert.equal(c.readableLength, 4);
  assert.equal(c.writableLength, 8);
  assert.equal(c.descCount, 2);
});

Deno.test("split malformed: INDIRECT without the feature", () => {
  const mem = memory();
  putDesc(mem, 0x1000, { addr: 0x3000, len: 16, flags: I });
  putDesc(mem, 0x1010, GOOD);
  mem.writeU16(0x1104, 0);
  mem.writeU16(0x1106, 1);
  mem.writeU16(0x1102, 2);
  const kinds: string[] = [];
  const q = new SplitDeviceQueue(mem, { ...splitConfig, indirect: false }, {
    onChainError: (e) => kinds.push(e.kind),
  });
  assert.equal(q.pop()?.id, 1);
  assert.deepEqual(kinds, ["indirect-not-negotiated"]);
});

Deno.test("split malformed: available index jumping past the queue size needs a reset", () => {
  const { q, used } = splitRing([GOOD], [0], SIZE + 1);
  assert.equal(q.pop(), null);
  assert.equal(q.needsReset?.kind, "avail-idx-jump");
  assert.equal(q.hasAvailable(), false);
  assert.equal(q.pop(), null, "stays stopped");
  assert.deepEqual(used(), []);
});

Deno.test("split malformed: head index past the queue size needs a reset", () => {
  const { q } = splitRing([GOOD], [SIZE + 5, 0]);
  assert.equal(q.pop(), null);
  assert.equal(q.needsReset?.kind, "index-out-of-range");
});

Deno.test("split: ring parts outside guest memory are refused at setup", () => {
  assert.throws(
    () => new SplitDeviceQueue(memory(), { ...splitConfig, device: BigInt(END - 8) }),
    (e: VirtqueueError) => e.kind === "address-out-of-memory",
  );
});

// packed rings: descriptors at 0x1000, driver event 0x1100, device event 0x1104
const packedConfig: QueueConfig = {
  size: SIZE,
  desc: 0x1000n,
  driver: 0x1100n,
  device: 0x1104n,
  indirect: true,
};
const AV = 1 << 7; // AVAIL with wrap counter 1 and USED clear: available in the first lap

function packedRing(descs: D[]) {
  const mem = memory();
  descs.forEach((d, i) => putDesc(mem, 0x1000 + 16 * i, { ...d, flags: d.flags | AV }, true));
  const errors: VirtqueueError[] = [];
  const q = new PackedDeviceQueue(mem, packedConfig, { onChainError: (e) => errors.push(e) });
  return { mem, q, errors };
}

function expectPacked(bad: D[], kind: VirtqueueErrorKind, setup?: (mem: GuestMemory) => void) {
  const { mem, q, errors } = packedRing([...bad.map((d) => ({ ...d, id: 3 })), { ...GOOD, id: 5 }]);
  setup?.(mem);
  const c = q.pop();
  assert.ok(c !== null, `${kind}: the good chain after the bad one is served`);
  assert.equal(c.id, 5);
  assert.deepEqual(errors.map((e) => e.kind), [kind]);
  assert.equal(q.needsReset, undefined);
  // the bad chain came back as used in the first slot: id 3, length 0, AVAIL|USED
  assert.equal(mem.readU16(0x1000 + 12), 3);
  assert.equal(mem.readU16(0x1000 + 14), AV | 0x8000);
  assert.deepEqual(q.usedState, { pos: bad.length, wrap: true });
}

Deno.test("packed malformed: each bad chain is returned and the next one served", () => {
  expectPacked([{ addr: END, len: 4, flags: R }], "address-out-of-memory");
  expectPacked(
    [{ addr: DATA, len: 4, flags: W | N }, { addr: DATA, len: 4, flags: R }],
    "readable-after-writable",
  );
  expectPacked(
    [{ addr: 0x3000, len: 32, flags: I | N }, { addr: DATA, len: 4, flags: R }],
    "indirect-with-next",
  );
  expectPacked([{ addr: 0x3000, len: 0, flags: I }], "bad-indirect-length");
  expectPacked([{ addr: 0x3000, len: 16 * (SIZE + 1), flags: I }], "chain-too-long");
  expectPacked([{ addr: 0xf000_0000, len: 32, flags: I }], "address-out-of-memory");
});

Deno.test("packed: INDIRECT inside a packed indirect table is ignored as the spec says", () => {
  const { mem, q, errors } = packedRing([{ addr: 0x3000, len: 32, flags: I, id: 1 }]);
  putDesc(mem, 0x3000, { addr: DATA, len: 4, flags: I }, true);
  putDesc(mem, 0x3010, { addr: DATA, len: 8, flags: W | I }, true);
  const c = q.pop()!;
  assert.equal(c.error, undefined);
  assert.equal(c.readableLength, 4);
  assert.equal(c.writableLength, 8);
  assert.deepEqual(errors, []);
});

Deno.test("packed malformed: a chain that never ends needs a reset", () => {
  const descs = Array.from({ length: SIZE }, () => ({ addr: DATA, len: 4, flags: N }));
  const { q } = packedRing(descs);
  assert.equal(q.pop(), null);
  assert.equal(q.needsReset?.kind, "chain-too-long");
  assert.equal(q.pop(), null);
});
