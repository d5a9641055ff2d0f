import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { CaptureReader, detectCaptureFormat, FuseStreamReader, readCapture } from "./detect.ts";
import { PcapngWriter } from "./writer.ts";

/** A fuse_in_header (40 bytes) with `body` after it. */
function fuseRequest(opcode: number, unique: number, body: number[] = []): Uint8Array {
  const b = new Uint8Array(40 + body.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.length, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, BigInt(unique), true);
  v.setBigUint64(16, 1n, true);
  b.set(body, 40);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let p = 0;
  for (const c of parts) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

function pcapng(): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c));
  const i = w.addInterface({ name: "/dev/fuse" });
  w.writePacket(i, { timestampNs: 1n, data: fuseRequest(1, 2, [0x61, 0]) });
  return concat(...chunks);
}

const INIT = fuseRequest(26, 1, [7, 0, 0, 0, 38, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0]);
const LOOKUP = fuseRequest(1, 2, [0x61, 0x62, 0]);

Deno.test("detects pcapng, pcap (both orders and resolutions) by magic", () => {
  const ng = detectCaptureFormat(pcapng());
  assert.deepEqual([ng.format, ng.confidence], ["pcapng", 1]);
  assert.match(ng.reason, /little-endian/);
  const be = pcapng().slice(0, 12);
  be.set([0x1a, 0x2b, 0x3c, 0x4d], 8);
  assert.match(detectCaptureFormat(be).reason, /big-endian/);
  assert.equal(detectCaptureFormat(pcapng().slice(0, 8)).confidence, 0.7);
  const badBom = pcapng().slice(0, 12);
  badBom[8] = 0;
  assert.equal(detectCaptureFormat(badBom).confidence, 0.5);
  for (
    const [bytes, reason] of [
      [[0xd4, 0xc3, 0xb2, 0xa1], /microsecond.*little/],
      [[0xa1, 0xb2, 0xc3, 0xd4], /microsecond.*big/],
      [[0x4d, 0x3c, 0xb2, 0xa1], /nanosecond.*little/],
      [[0xa1, 0xb2, 0x3c, 0x4d], /nanosecond.*big/],
    ] as const
  ) {
    const g = detectCaptureFormat(new Uint8Array(bytes));
    assert.equal(g.format, "pcap");
    assert.equal(g.confidence, 1);
    assert.match(g.reason, reason);
  }
});

Deno.test("detects a raw FUSE stream by its first fuse_in_header", () => {
  const init = detectCaptureFormat(concat(INIT, LOOKUP));
  assert.equal(init.format, "fuse_stream");
  assert.equal(init.confidence, 0.95);
  assert.match(init.reason, /INIT 7\.38/);
  const two = detectCaptureFormat(concat(LOOKUP, fuseRequest(3, 3)));
  assert.deepEqual([two.format, two.confidence], ["fuse_stream", 0.8]);
  const one = detectCaptureFormat(LOOKUP);
  assert.deepEqual([one.format, one.confidence], ["fuse_stream", 0.5]);
  const broken = detectCaptureFormat(concat(LOOKUP, new Uint8Array(40).fill(0xff)));
  assert.equal(broken.format, "unknown");
  assert.match(broken.reason, /next does not/);
  assert.equal(
    detectCaptureFormat(new TextEncoder().encode("hello world, this is a text file!!!!!!!!!"))
      .format,
    "unknown",
  );
  assert.match(detectCaptureFormat(fuseRequest(999, 1)).reason, /opcode 999/);
  assert.equal(detectCaptureFormat(new Uint8Array(2)).format, "unknown");
});

Deno.test("FuseStreamReader splits by len and reports damage by offset", () => {
  const stream = concat(INIT, LOOKUP, fuseRequest(3, 9));
  const r = new FuseStreamReader();
  for (let i = 0; i < stream.length; i += 7) r.push(stream.slice(i, i + 7));
  r.end();
  const offsets = [];
  for (let m = r.next(); m !== undefined; m = r.next()) {
    offsets.push(m.offset);
    assert.equal(m.data.length, new DataView(m.data.buffer, m.data.byteOffset).getUint32(0, true));
  }
  assert.deepEqual(offsets, [0, INIT.length, INIT.length + LOOKUP.length]);
  const cut = new FuseStreamReader();
  cut.push(stream.slice(0, stream.length - 1));
  cut.end();
  assert.ok(cut.next());
  assert.ok(cut.next());
  assert.throws(
    () => cut.next(),
    (e) => e instanceof CodecError && e.offset === INIT.length + LOOKUP.length,
  );
  const bad = new FuseStreamReader();
  bad.push(concat(LOOKUP, new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0])));
  assert.ok(bad.next());
  assert.throws(() => bad.next(), (e) => e instanceof CodecError && e.offset === LOOKUP.length);
});

Deno.test("CaptureReader picks the reader from the first bytes, even across small chunks", async () => {
  const chunked = (b: Uint8Array, n: number) => {
    const out = [];
    for (let i = 0; i < b.length; i += n) out.push(b.slice(i, i + n));
    return out;
  };
  const kinds = [];
  for await (const item of readCapture(chunked(pcapng(), 5))) kinds.push(item.kind);
  assert.deepEqual(kinds, ["section", "interface", "packet"]);
  const msgs = [];
  for await (const item of readCapture(chunked(concat(INIT, LOOKUP), 3))) msgs.push(item);
  assert.deepEqual(msgs.map((m) => m.offset), [0, INIT.length]);
  const r = new CaptureReader();
  r.push(new Uint8Array(100).fill(0x41));
  assert.equal(r.next(), undefined); // still waiting for enough bytes to decide
  r.end();
  assert.throws(() => r.next(), (e) => e instanceof CodecError && /not pcapng/.test(e.message));
  const forced = new CaptureReader({ format: "fuse_stream" });
  forced.push(LOOKUP);
  assert.equal(forced.format, "fuse_stream");
  assert.equal(forced.next()?.kind, "message");
  const empty = new CaptureReader();
  empty.end();
  assert.equal(empty.next(), undefined);
});
