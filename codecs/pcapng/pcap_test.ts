import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { PcapReader } from "./pcap.ts";
import type { CapturePacket } from "./types.ts";

/** A classic pcap file built field by field: header, then records. */
function pcapFile(
  opts: { le: boolean; nano: boolean },
  records: { sec: number; frac: number; data: number[]; orig?: number }[],
): Uint8Array {
  const out: number[] = [];
  const u32 = (n: number) => {
    const b = [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24];
    out.push(...(opts.le ? b : b.reverse()));
  };
  const u16 = (n: number) => out.push(...(opts.le ? [n & 255, n >>> 8] : [n >>> 8, n & 255]));
  u32(opts.nano ? 0xa1b23c4d : 0xa1b2c3d4);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(262144);
  u32(252);
  for (const r of records) {
    u32(r.sec);
    u32(r.frac);
    u32(r.data.length);
    u32(r.orig ?? r.data.length);
    out.push(...r.data);
  }
  return new Uint8Array(out);
}

function readAll(bytes: Uint8Array, step = bytes.length) {
  const r = new PcapReader();
  const items = [];
  try {
    for (let i = 0; i < bytes.length; i += step) {
      r.push(bytes.slice(i, i + step));
      for (let x = r.next(); x !== undefined; x = r.next()) items.push(x);
    }
    r.end();
    for (let x = r.next(); x !== undefined; x = r.next()) items.push(x);
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    return { items, error: e };
  }
  return { items, error: undefined };
}

const RECORDS = [
  { sec: 1_700_000_000, frac: 123456, data: [1, 2, 3] },
  { sec: 1_700_000_001, frac: 999999, data: [], orig: 60 },
  { sec: 0, frac: 1, data: [9, 8, 7, 6, 5] },
];

Deno.test("classic pcap in both byte orders and both resolutions", () => {
  for (const le of [true, false]) {
    for (const nano of [false, true]) {
      const bytes = pcapFile({ le, nano }, RECORDS);
      for (const step of [bytes.length, 1, 5]) {
        const { items, error } = readAll(bytes, step);
        assert.equal(error, undefined);
        assert.equal(items.length, 4);
        const h = items[0];
        assert.equal(h.kind, "interface");
        assert.ok(h.kind === "interface" && "nanosecond" in h);
        assert.equal(h.nanosecond, nano);
        assert.equal(h.byteOrder, le ? "little" : "big");
        assert.equal(h.linkType, 252);
        assert.equal(h.snapLen, 262144);
        assert.equal(h.tsresol, nano ? 9 : 6);
        const unit = nano ? 1n : 1000n;
        const p = items.slice(1) as CapturePacket[];
        assert.equal(p[0].timestampNs, 1_700_000_000_000_000_000n + 123456n * unit);
        assert.deepEqual([...p[0].data], [1, 2, 3]);
        assert.equal(p[1].capturedLength, 0);
        assert.equal(p[1].originalLength, 60);
        assert.equal(p[2].timestampNs, unit);
        assert.equal(p[2].offset, 24 + 16 + 3 + 16);
      }
    }
  }
});

Deno.test("pcap damage: bad magic, truncation, oversized and out-of-range fields", () => {
  const bytes = pcapFile({ le: true, nano: false }, RECORDS);
  let r = readAll(bytes.slice(0, bytes.length - 2));
  assert.equal(r.items.length, 3);
  assert.equal(r.error?.offset, 24 + 16 + 3 + 16);
  assert.match(r.error!.reason, /truncated/);
  r = readAll(bytes.slice(0, 10));
  assert.equal(r.items.length, 0);
  assert.equal(r.error?.field, "pcap_header");
  const magic = bytes.slice();
  magic[0] = 0;
  r = readAll(magic);
  assert.equal(r.error?.field, "pcap_header.magic_number");
  const big = bytes.slice();
  new DataView(big.buffer).setUint32(24 + 8, 0x7fffffff, true);
  r = readAll(big);
  assert.equal(r.items.length, 1);
  assert.equal(r.error?.field, "pcap_record.incl_len");
  assert.equal(r.error?.offset, 32);
  const frac = bytes.slice();
  new DataView(frac.buffer).setUint32(24 + 4, 1_000_000, true);
  r = readAll(frac);
  assert.equal(r.error?.field, "pcap_record.ts_fraction");
  const version = bytes.slice();
  version[4] = 3;
  r = readAll(version);
  assert.equal(r.error?.field, "pcap_header.version_major");
});
