import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { PcapngReader } from "./reader.ts";
import { PcapngWriter } from "./writer.ts";
import {
  BLOCK_RINGSIDE_PADDING,
  type CapturePacket,
  type InterfaceBlock,
  type PcapngBlock,
  type SectionBlock,
} from "./types.ts";

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/** Reads `bytes` pushed in pieces of `step` bytes; returns the blocks and the error, if any. */
function readAll(
  bytes: Uint8Array,
  step = bytes.length,
): { blocks: PcapngBlock[]; error?: CodecError; zeroTailBytes: number } {
  const r = new PcapngReader();
  const blocks: PcapngBlock[] = [];
  try {
    for (let i = 0; i < bytes.length; i += step) {
      r.push(bytes.slice(i, i + step));
      for (let b = r.next(); b !== undefined; b = r.next()) blocks.push(b);
    }
    r.end();
    for (let b = r.next(); b !== undefined; b = r.next()) blocks.push(b);
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    return { blocks, error: e, zeroTailBytes: r.zeroTailBytes };
  }
  return { blocks, error: undefined, zeroTailBytes: r.zeroTailBytes };
}

function sample(bufferBytes = 0): { bytes: Uint8Array; chunks: Uint8Array[] } {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c), {
    userappl: "ringside test",
    os: "Linux",
    hardware: "x86_64",
    comment: "a section",
    bufferBytes,
  });
  const vq = w.addInterface({ name: "vq1", description: "request queue 1" });
  const dev = w.addInterface({ name: "/dev/fuse", linkType: 147, snapLen: 65535 });
  w.writePacket(vq, {
    timestampNs: 1_700_000_000_123_456_789n,
    data: new Uint8Array([1, 2, 3, 4, 5]),
    direction: "inbound",
    comment: "first",
  });
  w.writePacket(dev, {
    timestampNs: 0xffff_ffff_ffff_fff0n,
    data: [new Uint8Array([9, 9]), new Uint8Array([]), new Uint8Array([7, 7, 7, 7])],
    direction: "outbound",
    flags: 0x1_0000,
    packetId: 42n,
    queue: 3,
  });
  w.writePacket(vq, { timestampNs: 5n, data: new Uint8Array(0), originalLength: 100 });
  w.flush();
  return { bytes: concat(chunks), chunks };
}

Deno.test("writer output reads back: section, interfaces, packets with options", () => {
  const { bytes } = sample();
  const { blocks, error } = readAll(bytes);
  assert.equal(error, undefined);
  assert.deepEqual(blocks.map((b) => b.kind), [
    "section",
    "interface",
    "interface",
    "packet",
    "packet",
    "packet",
  ]);
  const s = blocks[0] as SectionBlock;
  assert.equal(s.byteOrder, "little");
  assert.equal(s.userappl, "ringside test");
  assert.equal(s.os, "Linux");
  assert.equal(s.hardware, "x86_64");
  assert.equal(s.comment, "a section");
  assert.equal(s.sectionLength, -1n);
  assert.equal(s.majorVersion, 1);
  const i0 = blocks[1] as InterfaceBlock;
  assert.equal(i0.name, "vq1");
  assert.equal(i0.description, "request queue 1");
  assert.equal(i0.linkType, 252);
  assert.equal(i0.tsresol, 9);
  assert.equal(i0.snapLen, 0);
  const i1 = blocks[2] as InterfaceBlock;
  assert.equal(i1.interfaceId, 1);
  assert.equal(i1.linkType, 147);
  assert.equal(i1.snapLen, 65535);
  const p0 = blocks[3] as CapturePacket;
  assert.equal(p0.interfaceId, 0);
  assert.equal(p0.timestampNs, 1_700_000_000_123_456_789n);
  assert.deepEqual([...p0.data], [1, 2, 3, 4, 5]);
  assert.equal(p0.originalLength, 5);
  assert.equal(p0.direction, "inbound");
  assert.equal(p0.flags, 1);
  assert.equal(p0.comment, "first");
  const p1 = blocks[4] as CapturePacket;
  assert.equal(p1.interfaceId, 1);
  assert.equal(p1.timestampNs, 0xffff_ffff_ffff_fff0n);
  assert.deepEqual([...p1.data], [9, 9, 7, 7, 7, 7]);
  assert.equal(p1.direction, "outbound");
  assert.equal(p1.flags, 0x1_0002);
  const id = p1.options.find((o) => o.code === 5)!;
  assert.equal(new DataView(id.value.buffer, id.value.byteOffset).getBigUint64(0, true), 42n);
  const q = p1.options.find((o) => o.code === 6)!;
  assert.deepEqual([...q.value], [3, 0, 0, 0]);
  const p2 = blocks[5] as CapturePacket;
  assert.equal(p2.capturedLength, 0);
  assert.equal(p2.originalLength, 100);
  assert.equal(p2.direction, undefined);
  assert.equal(p2.flags, 0);
  assert.equal(p2.options.length, 0);
  // block offsets are the stream positions
  for (const b of blocks) {
    assert.equal(new DataView(bytes.buffer).getUint32(b.offset + 4, true) % 4, 0);
  }
  assert.equal(blocks[1].offset, new DataView(bytes.buffer).getUint32(4, true));
});

Deno.test("unbuffered writer emits one chunk per block; buffered writer emits whole blocks", () => {
  const one = sample(0);
  assert.equal(one.chunks.length, 6);
  for (const c of one.chunks) {
    const v = new DataView(c.buffer, c.byteOffset, c.length);
    assert.equal(v.getUint32(4, true), c.length);
    assert.equal(v.getUint32(c.length - 4, true), c.length);
  }
  const batched = sample(1 << 20);
  assert.equal(batched.chunks.length, 1);
  assert.deepEqual(batched.bytes, one.bytes);
  const some = sample(100);
  assert.ok(some.chunks.length > 1 && some.chunks.length < 6);
  assert.deepEqual(some.bytes, one.bytes);
  // every chunk boundary is a block boundary: each prefix of chunks reads cleanly
  let prefix: Uint8Array[] = [];
  for (const c of some.chunks) {
    prefix = [...prefix, c];
    assert.equal(readAll(concat(prefix)).error, undefined);
  }
});

Deno.test("reader gives the same blocks whatever the chunking", () => {
  const { bytes } = sample();
  const whole = readAll(bytes).blocks;
  for (const step of [1, 3, 7, 16, 33]) {
    const pieces = readAll(bytes, step);
    assert.equal(pieces.error, undefined);
    assert.deepEqual(pieces.blocks, whole);
  }
});

Deno.test("writer rejects a packet on an interface it never described", () => {
  const w = new PcapngWriter(() => {});
  assert.throws(() => w.writePacket(0, { timestampNs: 0n, data: new Uint8Array(1) }), RangeError);
  assert.equal(w.addInterface({ name: "x" }), 0);
  assert.equal(w.interfaceCount, 1);
  assert.ok(w.bytesWritten > 0);
  assert.equal(w.bufferedBytes, 0);
});

Deno.test("truncated input yields every complete block, then names the offset", () => {
  const { bytes } = sample();
  const full = readAll(bytes).blocks;
  const lastStart = full[5].offset;
  for (const cut of [lastStart + 1, lastStart + 11, lastStart + 20, bytes.length - 1]) {
    const { blocks, error } = readAll(bytes.slice(0, cut), 13);
    assert.equal(blocks.length, 5);
    assert.ok(error instanceof CodecError);
    assert.equal(error.offset, lastStart);
    assert.match(error.reason, /truncated/);
  }
  const cutAtBoundary = readAll(bytes.slice(0, lastStart));
  assert.equal(cutAtBoundary.error, undefined);
  assert.equal(cutAtBoundary.blocks.length, 5);
});

Deno.test("corrupt lengths and missing section header are CodecErrors at the right byte", () => {
  const { bytes } = sample();
  const full = readAll(bytes).blocks;
  const at = full[4].offset;
  // trailing length mismatch
  const bad = bytes.slice();
  const total = new DataView(bad.buffer).getUint32(at + 4, true);
  new DataView(bad.buffer).setUint32(at + total - 4, total + 4, true);
  let r = readAll(bad);
  assert.equal(r.blocks.length, 4);
  assert.equal(r.error?.offset, at + total - 4);
  assert.equal(r.error?.field, "enhanced_packet_block.block_total_length");
  // leading length not a multiple of 4
  const odd = bytes.slice();
  new DataView(odd.buffer).setUint32(at + 4, 33, true);
  r = readAll(odd);
  assert.equal(r.blocks.length, 4);
  assert.equal(r.error?.offset, at + 4);
  // oversized length is damage, not a wait for more input
  const huge = bytes.slice();
  new DataView(huge.buffer).setUint32(at + 4, 0x7ffffff0, true);
  const reader = new PcapngReader({ maxBlockBytes: 1 << 20 });
  reader.push(huge);
  for (let i = 0; i < 4; i++) assert.ok(reader.next());
  assert.throws(() => reader.next(), (e) => e instanceof CodecError && e.offset === at + 4);
  // the error sticks
  assert.throws(() => reader.next(), CodecError);
  // packet on an undescribed interface
  const ifc = bytes.slice();
  new DataView(ifc.buffer).setUint32(at + 8, 7, true);
  r = readAll(ifc);
  assert.equal(r.error?.field, "enhanced_packet_block.interface_id");
  assert.equal(r.error?.offset, at + 8);
  // captured length beyond the block
  const cap = bytes.slice();
  new DataView(cap.buffer).setUint32(at + 20, 1000, true);
  r = readAll(cap);
  assert.equal(r.error?.field, "enhanced_packet_block.captured_packet_length");
  // no section header first
  r = readAll(bytes.slice(full[1].offset));
  assert.equal(r.blocks.length, 0);
  assert.equal(r.error?.field, "block_type");
  assert.equal(r.error?.offset, 0);
  // bad byte-order magic
  const bom = bytes.slice();
  bom[8] = 0;
  r = readAll(bom);
  assert.equal(r.error?.field, "section_header_block.byte_order_magic");
  assert.equal(r.error?.offset, 8);
});

/** Re-encodes a little-endian pcapng stream made by the writer as big-endian. */
function toBigEndian(le: Uint8Array): Uint8Array {
  const out = le.slice();
  const src = new DataView(le.buffer, le.byteOffset, le.length);
  const dst = new DataView(out.buffer);
  const swap32 = (p: number) => dst.setUint32(p, src.getUint32(p, true), false);
  const swap16 = (p: number) => dst.setUint16(p, src.getUint16(p, true), false);
  const opts = (p: number, end: number, numeric: Set<number>) => {
    while (p + 4 <= end) {
      const code = src.getUint16(p, true);
      const len = src.getUint16(p + 2, true);
      swap16(p);
      swap16(p + 2);
      if (code === 0) break;
      if (numeric.has(code) && len === 4) swap32(p + 4);
      if (numeric.has(code) && len === 8) dst.setBigUint64(p + 4, src.getBigUint64(p + 4, true));
      p += 4 + ((len + 3) & ~3);
    }
  };
  let p = 0;
  while (p < le.length) {
    const type = src.getUint32(p, true);
    const total = src.getUint32(p + 4, true);
    swap32(p);
    swap32(p + 4);
    swap32(p + total - 4);
    if (type === 0x0a0d0d0a) {
      swap32(p + 8);
      swap16(p + 12);
      swap16(p + 14);
      dst.setBigInt64(p + 16, src.getBigInt64(p + 16, true));
      opts(p + 24, p + total - 4, new Set());
    } else if (type === 1) {
      swap16(p + 8);
      swap32(p + 12);
      opts(p + 16, p + total - 4, new Set());
    } else if (type === 6) {
      for (const f of [8, 12, 16, 20, 24]) swap32(p + f);
      const cap = src.getUint32(p + 20, true);
      opts(p + 28 + ((cap + 3) & ~3), p + total - 4, new Set([2, 5, 6]));
    }
    p += total;
  }
  return out;
}

Deno.test("big-endian sections and several sections in one stream", () => {
  const { bytes } = sample();
  const le = readAll(bytes).blocks;
  const be = readAll(toBigEndian(bytes));
  assert.equal(be.error, undefined);
  assert.equal((be.blocks[0] as SectionBlock).byteOrder, "big");
  const strip = (bs: PcapngBlock[]) =>
    bs.map((b) => {
      const c = { ...b } as Record<string, unknown>;
      delete c.byteOrder;
      delete c.options;
      return c;
    });
  assert.deepEqual(strip(be.blocks), strip(le));
  // LE section, then BE section, then LE again: interfaces restart per section
  const mixed = concat([bytes, toBigEndian(bytes), bytes]);
  const r = readAll(mixed, 50);
  assert.equal(r.error, undefined);
  assert.equal(r.blocks.length, 18);
  assert.deepEqual(r.blocks.map((b) => b.kind === "section" ? b.byteOrder : ""), [
    ..."little,,,,,,big,,,,,,little,,,,,".split(","),
  ]);
  assert.equal((r.blocks[10] as CapturePacket).interfaceId, 1);
  assert.equal((r.blocks[10] as CapturePacket).timestampNs, 0xffff_ffff_ffff_fff0n);
});

Deno.test("unknown block types are returned as other blocks and skipped", () => {
  const { bytes } = sample();
  const blocks = readAll(bytes).blocks;
  const custom = new Uint8Array(20);
  const v = new DataView(custom.buffer);
  v.setUint32(0, 0x40000bad, true);
  v.setUint32(4, 20, true);
  v.setUint32(8, 0xdeadbeef, true);
  v.setUint32(16, 20, true);
  const at = blocks[3].offset;
  const withCustom = concat([bytes.subarray(0, at), custom, bytes.subarray(at)]);
  const r = readAll(withCustom, 9);
  assert.equal(r.error, undefined);
  assert.equal(r.blocks.length, 7);
  const o = r.blocks[3];
  assert.equal(o.kind, "other");
  assert.equal(o.kind === "other" && o.blockType, 0x40000bad);
  assert.equal(o.kind === "other" && o.body.length, 8);
  assert.equal((r.blocks[4] as CapturePacket).timestampNs, 1_700_000_000_123_456_789n);
});

/** A ringside padding block of `n` bytes (n a multiple of 4, at least 12), as an O_DIRECT recording writes one. */
function paddingBlock(n: number, le = true): Uint8Array {
  const b = new Uint8Array(n);
  const v = new DataView(b.buffer);
  v.setUint32(0, BLOCK_RINGSIDE_PADDING, le);
  v.setUint32(4, n, le);
  v.setUint32(n - 4, n, le);
  return b;
}

Deno.test("a padding block between blocks comes out as an other block and the packets after it read", () => {
  const { bytes } = sample();
  const clean = readAll(bytes).blocks;
  const at = clean[4].offset;
  const padded = concat([bytes.subarray(0, at), paddingBlock(4096 - 12), bytes.subarray(at)]);
  for (const step of [padded.length, 100, 7]) {
    const r = readAll(padded, step);
    assert.equal(r.error, undefined);
    assert.equal(r.zeroTailBytes, 0);
    assert.deepEqual(r.blocks.map((b) => b.kind), [
      "section",
      "interface",
      "interface",
      "packet",
      "other",
      "packet",
      "packet",
    ]);
    const o = r.blocks[4];
    assert.equal(o.kind === "other" && o.blockType, BLOCK_RINGSIDE_PADDING);
    assert.equal(o.kind === "other" && o.body.length, 4096 - 24);
    assert.deepEqual([...(r.blocks[5] as CapturePacket).data], [9, 9, 7, 7, 7, 7]);
    assert.equal((r.blocks[6] as CapturePacket).originalLength, 100);
  }
});

Deno.test("zeros from a block boundary to the end are a clean end, counted as a zero tail", () => {
  const { bytes } = sample();
  const clean = readAll(bytes).blocks;
  for (const zeros of [8, 12, 4096 - bytes.length % 4096, 3 * 4096, 1 << 20]) {
    const tailed = concat([bytes, new Uint8Array(zeros)]);
    for (const step of [tailed.length, 4096, 1000, 7]) {
      if (step === 7 && zeros > 4096) continue; // tens of thousands of pushes prove nothing more
      const r = readAll(tailed, step);
      assert.equal(r.error, undefined, `${zeros} zeros in steps of ${step}: ${r.error?.message}`);
      assert.deepEqual(r.blocks, clean);
      assert.equal(r.zeroTailBytes, zeros, `${zeros} zeros in steps of ${step}`);
    }
  }
  // after a padding block (how an interrupted O_DIRECT recording ends), in a big-endian section too
  for (const le of [true, false]) {
    const section = le ? bytes : toBigEndian(bytes);
    const r = readAll(concat([section, paddingBlock(64, le), new Uint8Array(8192)]), 512);
    assert.equal(r.error, undefined);
    assert.equal(r.blocks.length, 7);
    assert.equal(r.zeroTailBytes, 8192);
  }
  // a file without a tail has none
  assert.equal(readAll(bytes).zeroTailBytes, 0);
});

Deno.test("a 64 MiB zero tail in 64 KiB pushes is read in constant memory", () => {
  const { bytes } = sample();
  const r = new PcapngReader();
  r.push(bytes);
  let blocks = 0;
  for (let b = r.next(); b !== undefined; b = r.next()) blocks++;
  const chunk = new Uint8Array(65536);
  const TAIL = 64 << 20;
  let maxBuffered = 0;
  for (let pushed = 0; pushed < TAIL; pushed += chunk.length) {
    r.push(chunk);
    assert.equal(r.next(), undefined);
    maxBuffered = Math.max(maxBuffered, r.bufferedBytes);
  }
  r.end();
  assert.equal(r.next(), undefined);
  assert.equal(blocks, 6);
  assert.equal(maxBuffered, 0);
  assert.equal(r.zeroTailBytes, TAIL);
  assert.equal(r.offset, bytes.length + TAIL);
});

Deno.test("zeros with a nonzero byte after them are damage at that byte", () => {
  const { bytes } = sample();
  // the zero block header is whole (8 bytes): the nonzero byte comes after it
  for (const [zeros, gap] of [[12, 8], [16, 11], [4096, 100], [1 << 20, (1 << 20) - 1]]) {
    const tailed = concat([bytes, new Uint8Array(zeros)]);
    tailed[bytes.length + gap] = 0x0a; // a section header, say, after the gap
    for (const step of [tailed.length, 4096, 999]) {
      const r = readAll(tailed, step);
      assert.equal(r.blocks.length, 6);
      assert.ok(r.error instanceof CodecError, `${zeros}/${gap} in steps of ${step}`);
      assert.equal(r.error.field, "zero_tail");
      assert.equal(r.error.offset, bytes.length + gap);
      assert.equal(
        r.error.reason,
        `byte 0x0a after ${gap} zero bytes from the block boundary at ${bytes.length}: ` +
          "zeros are the end of an interrupted recording only when nothing but zeros follows",
      );
      assert.equal(r.zeroTailBytes, 0);
    }
  }
  // fewer than a block header's 8 zero bytes at the end is a truncated block, as before
  const r = readAll(concat([bytes, new Uint8Array(4)]));
  assert.equal(r.error?.offset, bytes.length);
  assert.match(r.error?.reason ?? "", /truncated/);
  // zeros where the section header belongs are not a tail of anything
  const none = readAll(new Uint8Array(4096));
  assert.equal(none.error?.field, "block_type");
  assert.equal(none.error?.offset, 0);
});

Deno.test("if_tsresol other than nanoseconds and if_tsoffset are applied", () => {
  // hand-built: SHB, IDB with tsresol 6 (µs) and tsoffset 10 s, IDB with tsresol 2^-10, two EPBs
  const blocks: number[][] = [];
  const le32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
  const block = (type: number, body: number[]) => {
    const total = 12 + body.length;
    blocks.push([...le32(type), ...le32(total), ...body, ...le32(total)]);
  };
  block(0x0a0d0d0a, [...le32(0x1a2b3c4d), 1, 0, 0, 0, ...Array(8).fill(255)]);
  block(1, [
    252,
    0,
    0,
    0,
    ...le32(0),
    9,
    0,
    1,
    0,
    6,
    0,
    0,
    0,
    14,
    0,
    8,
    0,
    10,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  block(1, [252, 0, 0, 0, ...le32(0), 9, 0, 1, 0, 0x8a, 0, 0, 0]);
  block(6, [...le32(0), ...le32(0), ...le32(1_500_000), ...le32(0), ...le32(0)]);
  block(6, [...le32(1), ...le32(0), ...le32(3072), ...le32(0), ...le32(0)]);
  const r = readAll(new Uint8Array(blocks.flat()));
  assert.equal(r.error, undefined);
  assert.equal((r.blocks[1] as InterfaceBlock).tsoffset, 10n);
  assert.equal((r.blocks[3] as CapturePacket).timestampNs, 11_500_000_000n);
  assert.equal((r.blocks[4] as CapturePacket).timestampNs, 3_000_000_000n);
});

Deno.test("a 1 GiB stream in 64 KiB chunks is read in constant memory", () => {
  // one section, then the same run of blocks (sizes chosen so blocks straddle chunks) again and again
  const head: Uint8Array[] = [];
  const w = new PcapngWriter((c) => head.push(c));
  w.addInterface({ name: "vq1" });
  const header = concat(head);
  const run: Uint8Array[] = [];
  const body = new PcapngWriter((c) => run.push(c));
  body.addInterface({ name: "vq1" });
  run.length = 0;
  const sizes = [40, 70_000, 4096, 131_072, 16, 50_000];
  for (let i = 0; i < sizes.length; i++) {
    body.writePacket(0, { timestampNs: BigInt(i), data: new Uint8Array(sizes[i]) });
  }
  const cycle = concat(run);
  const CHUNK = 65536;
  const TOTAL = 1024 * 1024 * 1024;
  const r = new PcapngReader();
  r.push(header);
  let packets = 0;
  let maxBuffered = 0;
  let pos = 0; // position in the endless repetition of `cycle`
  while (pos < TOTAL) {
    const at = pos % cycle.length;
    const n = Math.min(CHUNK, cycle.length - at);
    r.push(cycle.subarray(at, at + n));
    pos += n;
    for (let b = r.next(); b !== undefined; b = r.next()) if (b.kind === "packet") packets++;
    maxBuffered = Math.max(maxBuffered, r.bufferedBytes);
  }
  // stop at a block boundary: the stream ends after whole cycles only
  const tail = pos % cycle.length;
  if (tail !== 0) r.push(cycle.subarray(tail));
  r.end();
  for (let b = r.next(); b !== undefined; b = r.next()) if (b.kind === "packet") packets++;
  const cycles = Math.ceil(pos / cycle.length);
  assert.equal(packets, cycles * sizes.length);
  // never more than the largest block plus one chunk held
  assert.ok(maxBuffered < 131_072 + 64 + CHUNK, `held ${maxBuffered} bytes`);
  assert.equal(r.offset, header.length + cycles * cycle.length);
});
