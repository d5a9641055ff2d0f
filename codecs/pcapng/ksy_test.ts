import assert from "node:assert/strict";
import { loadKsy } from "../../testing/kaitai.ts";
import { buildSyntheticCapture } from "./_fixture.ts";
import { decodeRecord, NO_QUEUE, RECORD_FLAG_CHAIN, RECORD_KIND_CODES } from "./record.ts";
import { PcapngReader } from "./reader.ts";
import type { PcapngBlock } from "./types.ts";

const KSY = new URL("./ringside.ksy", import.meta.url).pathname;
const FIXTURE = new URL("../../testdata/pcapng/synthetic.pcapng", import.meta.url);

type Obj = Record<string, unknown>;
const utf8 = new TextDecoder();

function tsRead(bytes: Uint8Array): PcapngBlock[] {
  const r = new PcapngReader();
  r.push(bytes);
  r.end();
  const out: PcapngBlock[] = [];
  for (let b = r.next(); b !== undefined; b = r.next()) out.push(b);
  return out;
}

function kaitaiOptions(body: Obj): { code: number; value: Uint8Array }[] {
  return (body.options as Obj[])
    .filter((o) => o.code !== 0)
    .map((o) => ({ code: o.code as number, value: o.value as Uint8Array }));
}

Deno.test("testdata/pcapng/synthetic.pcapng is what its generator makes", async () => {
  assert.deepEqual(await Deno.readFile(FIXTURE), buildSyntheticCapture());
});

Deno.test("ringside.ksy and the TypeScript reader agree on every block of the test capture", async () => {
  const bytes = await Deno.readFile(FIXTURE);
  const parse = await loadKsy(KSY);
  const k = parse(bytes).blocks as Obj[];
  const ts = tsRead(bytes);
  assert.equal(k.length, ts.length);
  assert.equal(ts.length, 21);
  let packets = 0;
  for (let i = 0; i < ts.length; i++) {
    const kb = k[i];
    const tb = ts[i];
    const body = kb.body as Obj;
    assert.equal(kb.block_total_length, kb.block_total_length_trailer);
    if (i + 1 < ts.length) {
      assert.equal(ts[i + 1].offset - tb.offset, kb.block_total_length, `block ${i} length`);
    }
    if (tb.kind === "section") {
      assert.equal(kb.block_type, 0x0a0d0d0a);
      assert.equal(body.major_version, tb.majorVersion);
      assert.equal(body.minor_version, tb.minorVersion);
      assert.equal(BigInt(body.section_length as number), tb.sectionLength);
      assert.deepEqual(kaitaiOptions(body), tb.options);
    } else if (tb.kind === "interface") {
      assert.equal(kb.block_type, 1);
      assert.equal(body.link_type, tb.linkType);
      assert.equal(body.snap_len, tb.snapLen);
      const opts = kaitaiOptions(body);
      assert.deepEqual(opts, tb.options);
      assert.equal(utf8.decode(opts.find((o) => o.code === 2)!.value), tb.name);
      assert.equal(opts.find((o) => o.code === 9)!.value[0], tb.tsresol);
    } else if (tb.kind === "packet") {
      packets++;
      assert.equal(kb.block_type, 6);
      assert.equal(body.interface_id, tb.interfaceId);
      assert.equal(
        (BigInt(body.timestamp_high as number) << 32n) | BigInt(body.timestamp_low as number),
        tb.timestampNs,
      );
      assert.equal(body.captured_len, tb.capturedLength);
      assert.equal(body.original_len, tb.originalLength);
      assert.deepEqual(kaitaiOptions(body), tb.options);
      const kp = body.packet_data as Obj;
      const tags = kp.tags as Obj[];
      assert.equal(tags[0].tag, 12);
      assert.equal(utf8.decode(tags[0].value as Uint8Array), "ringside");
      const kr = kp.record as Obj;
      const tr = decodeRecord(tb.data);
      const h = tr.header;
      assert.equal(kr.version, h.version);
      assert.equal(kr.header_length, h.headerLength);
      assert.equal(kr.kind, RECORD_KIND_CODES[h.kind]);
      assert.equal(kr.fd_count, h.fdCount);
      assert.equal(kr.flags, h.flags);
      assert.equal(kr.queue, h.queue ?? NO_QUEUE);
      assert.equal(kr.fuse_minor, h.fuseMinor ?? 0);
      assert.equal(((kr.flags as number) & RECORD_FLAG_CHAIN) !== 0, h.chain !== undefined);
      if (h.chain) {
        assert.deepEqual(
          [kr.chain_head, kr.chain_descriptors, kr.chain_readable, kr.chain_writable],
          [h.chain.head, h.chain.descriptors, h.chain.readableBytes, h.chain.writableBytes],
        );
      }
      assert.deepEqual(kr.payload, tr.payload);
    } else {
      assert.fail(`unexpected ${tb.kind} block in the fixture`);
    }
  }
  assert.equal(packets, 15);
  // the fixture covers every record kind
  const kinds = new Set(
    ts.flatMap((b) => b.kind === "packet" ? [decodeRecord(b.data).header.kind] : []),
  );
  assert.equal(kinds.size, 8);
});
