import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import {
  decodeExportedPduTags,
  decodeRecord,
  decodeRecordHeader,
  encodeRecord,
  encodeRecordPrefix,
  RECORD_FLAG_CHAIN,
  RECORD_FLAG_INDIRECT,
  RECORD_FLAG_MALFORMED,
  RECORD_KIND_CODES,
  RECORD_PREFIX_LENGTH,
  recordDirection,
  type RecordKind,
  recordPacket,
} from "./record.ts";

Deno.test("record prefix layout: Exported-PDU tags naming ringside, then the v1 header", () => {
  const p = encodeRecordPrefix({
    kind: "fuse_reply",
    queue: 1,
    chain: { head: 0x1234, descriptors: 3, readableBytes: 80, writableBytes: 0x10000 },
    fuseMinor: 38,
    flags: RECORD_FLAG_INDIRECT,
  });
  assert.equal(p.length, 40);
  assert.equal(RECORD_PREFIX_LENGTH, 40);
  assert.deepEqual([...p.subarray(0, 16)], [
    0,
    12,
    0,
    8,
    ..."ringside".split("").map((c) => c.charCodeAt(0)),
    0,
    0,
    0,
    0,
  ]);
  assert.deepEqual([...p.subarray(16)], [
    1,
    24,
    2,
    0, // version, header_length, kind fuse_reply, fd_count
    0x05,
    0,
    1,
    0, // flags chain|indirect, queue 1
    0x34,
    0x12,
    3,
    0, // chain head, descriptors
    80,
    0,
    0,
    0, // readable
    0,
    0,
    1,
    0, // writable
    38,
    0,
    0,
    0, // fuse minor, reserved
  ]);
});

Deno.test("every record kind round-trips with its direction", () => {
  const dirs: Record<RecordKind, string> = {
    fuse_request: "inbound",
    fuse_reply: "outbound",
    fuse_notify: "outbound",
    vhost_user_front_to_back: "inbound",
    vhost_user_back_to_front: "outbound",
    ring_kick: "inbound",
    ring_call: "outbound",
    ring_chain: "inbound",
  };
  for (const kind of Object.keys(RECORD_KIND_CODES) as RecordKind[]) {
    assert.equal(recordDirection(kind), dirs[kind]);
    const payload = new Uint8Array([kind.length, 1, 2, 3, 4]);
    const data = encodeRecord({ kind, fdCount: kind.startsWith("vhost") ? 2 : 0 }, payload);
    const r = decodeRecord(data);
    assert.equal(r.header.kind, kind);
    assert.equal(r.header.version, 1);
    assert.equal(r.header.headerLength, 24);
    assert.equal(r.header.queue, undefined);
    assert.equal(r.header.chain, undefined);
    assert.equal(r.header.fuseMinor, undefined);
    assert.equal(r.header.fdCount, kind.startsWith("vhost") ? 2 : 0);
    assert.equal(r.payloadOffset, 40);
    assert.deepEqual(r.payload, payload);
  }
  const chain = { head: 7, descriptors: 2, readableBytes: 64, writableBytes: 4096 };
  const r = decodeRecord(
    encodeRecord(
      { kind: "ring_chain", queue: 0, chain, flags: RECORD_FLAG_MALFORMED },
      new Uint8Array(),
    ),
  );
  assert.deepEqual(r.header.chain, chain);
  assert.equal(r.header.queue, 0);
  assert.equal(r.header.flags, RECORD_FLAG_CHAIN | RECORD_FLAG_MALFORMED);
  assert.equal(r.payload.length, 0);
});

Deno.test("a longer header from a newer writer is skipped by its length", () => {
  const base = encodeRecordPrefix({ kind: "fuse_request", fuseMinor: 45 });
  const data = new Uint8Array(base.length + 8 + 3);
  data.set(base);
  data[17] = 32; // header_length grows by 8 bytes of fields this reader does not know
  data.set([0xaa, 0xbb, 0xcc], base.length + 8);
  const r = decodeRecord(data);
  assert.equal(r.header.headerLength, 32);
  assert.equal(r.header.fuseMinor, 45);
  assert.deepEqual([...r.payload], [0xaa, 0xbb, 0xcc]);
});

Deno.test("bad records are CodecErrors naming field and offset", () => {
  const good = encodeRecord({ kind: "fuse_request" }, new Uint8Array(4));
  const cases: [string, (d: Uint8Array) => Uint8Array, string, number][] = [
    ["version", (d) => (d[16] = 2, d), "ringside_record.version", 16],
    ["short length", (d) => (d[17] = 20, d), "ringside_record.header_length", 17],
    ["odd length", (d) => (d[17] = 26, d), "ringside_record.header_length", 17],
    ["overlong", (d) => (d[17] = 252, d), "ringside_record.header_length", 17],
    ["kind 0", (d) => (d[18] = 0, d), "ringside_record.kind", 18],
    ["kind 99", (d) => (d[18] = 99, d), "ringside_record.kind", 18],
    ["no end tag", (d) => d.subarray(0, 14), "exported_pdu.tags[1]", 12],
    ["tag overrun", (d) => (d[3] = 200, d), "exported_pdu.tags[0].length", 2],
    ["other dissector", (d) => (d[4] = 0x58, d), "exported_pdu.dissector_name", 0],
    ["empty", () => new Uint8Array(), "exported_pdu.tags[0]", 0],
    ["header cut", (d) => d.subarray(0, 30), "ringside_record.header_length", 17],
  ];
  for (const [what, mutate, field, offset] of cases) {
    assert.throws(
      () => decodeRecord(mutate(good.slice())),
      (e) => e instanceof CodecError && e.field === field && e.offset === offset,
      what,
    );
  }
  assert.throws(() => decodeRecordHeader(new Uint8Array([1])), CodecError);
  assert.throws(() => encodeRecordPrefix({ kind: "fuse_request", queue: 70000 }), CodecError);
  assert.throws(() => encodeRecordPrefix({ kind: "fuse_request", fdCount: 256 }), CodecError);
  assert.throws(
    () =>
      encodeRecordPrefix({
        kind: "ring_chain",
        chain: { head: 0, descriptors: 1, readableBytes: -1, writableBytes: 0 },
      }),
    CodecError,
  );
  assert.throws(() => encodeRecordPrefix({ kind: "nope" as RecordKind }), CodecError);
  // tags are skipped generically: an extra tag before the name is fine
  const extra = new Uint8Array(8 + good.length);
  extra.set([0, 33, 0, 4, 0x61, 0x62, 0x63, 0x64]);
  extra.set(good, 8);
  assert.deepEqual(decodeExportedPduTags(extra), { pduOffset: 24, dissectorName: "ringside" });
  assert.equal(decodeRecord(extra).header.kind, "fuse_request");
});

Deno.test("recordPacket gives writer options: prefix and payload pieces, direction from kind", () => {
  const payload = new Uint8Array([1, 2, 3]);
  const p = recordPacket({ kind: "fuse_reply", queue: 2 }, payload, 99n);
  assert.equal(p.timestampNs, 99n);
  assert.equal(p.direction, "outbound");
  assert.ok(Array.isArray(p.data));
  const [prefix, body] = p.data as Uint8Array[];
  assert.equal(body, payload);
  assert.deepEqual(prefix, encodeRecordPrefix({ kind: "fuse_reply", queue: 2 }));
});
