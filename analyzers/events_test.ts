import assert from "node:assert/strict";
import { CodecError } from "../codecs/errors.ts";
import {
  CaptureReader,
  PcapngWriter,
  type RecordHeader,
  recordPacket,
} from "../codecs/pcapng/mod.ts";
import {
  encodeErrorReply,
  encodeNotification,
  encodeReply,
  encodeRequest,
  type FuseRequestInit,
} from "../codecs/fuse/mod.ts";
import { type CaptureEvent, readEvents, type ReadEventsOptions } from "./events.ts";
import { twoGuestsCapture } from "./_fixtures.ts";

const SYNTHETIC = new URL("../testdata/pcapng/synthetic.pcapng", import.meta.url);

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

async function collect(
  source: Uint8Array | string | URL,
  options: ReadEventsOptions = {},
  step?: number,
): Promise<
  { events: CaptureEvent[]; error?: unknown; summary: ReturnType<typeof readEvents>["summary"] }
> {
  const input = source instanceof Uint8Array
    ? (function* () {
      const s = step ?? source.length;
      for (let i = 0; i < source.length; i += s) yield source.slice(i, i + s);
    })()
    : source;
  const stream = readEvents(input, options);
  const events: CaptureEvent[] = [];
  try {
    for await (const ev of stream) events.push(ev);
  } catch (e) {
    return { events, error: e, summary: stream.summary };
  }
  return { events, summary: stream.summary };
}

const lookup = (unique: bigint, name: string): FuseRequestInit => ({
  op: "LOOKUP",
  header: { unique, nodeid: 1n },
  body: { name },
});

/** A small capture: INIT, LOOKUP ok, LOOKUP ENOENT, a garbage reply, an unanswered GETATTR. */
function buildCapture(): { bytes: Uint8Array; blockOffsets: number[] } {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c), { userappl: "events_test" });
  const vq = w.addInterface({ name: "vq1" });
  const dev = w.addInterface({ name: "/dev/fuse" });
  const blockOffsets: number[] = [];
  const put = (iface: number, h: RecordHeader, payload: Uint8Array, t: bigint) => {
    blockOffsets.push(chunks.reduce((n, c) => n + c.length, 0));
    w.writePacket(iface, recordPacket(h, payload, t));
  };
  put(vq, { kind: "ring_kick", queue: 1 }, new Uint8Array(0), 1000n);
  put(
    vq,
    { kind: "fuse_request", queue: 1 },
    encodeRequest({
      op: "INIT",
      header: { unique: 2n },
      body: { major: 7, minor: 31, max_readahead: 65536, flags: 0, flags2: 0 },
    }),
    2000n,
  );
  put(
    vq,
    { kind: "fuse_reply", queue: 1 },
    encodeReply({
      op: "INIT",
      header: { unique: 2n },
      body: {
        major: 7,
        minor: 31,
        max_readahead: 65536,
        flags: 0,
        max_background: 16,
        congestion_threshold: 12,
        max_write: 131072,
        time_gran: 1,
        max_pages: 32,
        map_alignment: 0,
        flags2: 0,
        max_stack_depth: 0,
        request_timeout: 0,
      },
    }, { minor: 31 }),
    2500n,
  );
  put(dev, { kind: "fuse_request", fuseMinor: 31 }, encodeRequest(lookup(4n, "a.txt")), 10_000n);
  put(dev, { kind: "fuse_request", fuseMinor: 31 }, encodeRequest(lookup(6n, "nope")), 11_000n);
  put(dev, { kind: "fuse_reply", fuseMinor: 31 }, encodeErrorReply(6n, 2), 11_700n);
  put(
    dev,
    { kind: "fuse_reply", fuseMinor: 31 },
    encodeReply({
      op: "LOOKUP",
      header: { unique: 4n },
      body: {
        nodeid: 9n,
        generation: 0n,
        entry_valid: 1n,
        attr_valid: 1n,
        entry_valid_nsec: 0,
        attr_valid_nsec: 0,
        attr: {
          ino: 9n,
          size: 5n,
          blocks: 1n,
          atime: 0n,
          mtime: 0n,
          ctime: 0n,
          atimensec: 0,
          mtimensec: 0,
          ctimensec: 0,
          mode: 0o100644,
          nlink: 1,
          uid: 0,
          gid: 0,
          rdev: 0,
          blksize: 4096,
          flags: 0,
        },
      },
    }, { minor: 31 }),
    12_500n,
  );
  // a reply whose header is garbage (len says 999): an error event, the stream goes on
  const bad = encodeErrorReply(8n, 2);
  new DataView(bad.buffer).setUint32(0, 999, true);
  put(dev, { kind: "fuse_reply", fuseMinor: 31 }, bad, 13_000n);
  put(
    dev,
    { kind: "fuse_request", fuseMinor: 31 },
    encodeRequest({
      op: "GETATTR",
      header: { unique: 10n, nodeid: 9n },
      body: { getattr_flags: 0, dummy: 0, fh: 0n },
    }),
    14_000n,
  );
  put(
    dev,
    { kind: "fuse_notify", fuseMinor: 31 },
    encodeNotification({ op: "NOTIFY_INVAL_INODE", body: { ino: 9n, off: 0n, len: -1n } }),
    15_000n,
  );
  w.flush();
  return { bytes: concat(chunks), blockOffsets };
}

Deno.test("events: frames, channels, pairing, latency and errors as values", async () => {
  const { bytes } = buildCapture();
  const { events, error, summary } = await collect(bytes);
  assert.equal(error, undefined);
  assert.deepEqual(events.map((e) => e.frame), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(events.map((e) => e.kind), [
    "ring_kick",
    "fuse_request",
    "fuse_reply",
    "fuse_request",
    "fuse_request",
    "fuse_reply",
    "fuse_reply",
    "fuse_reply",
    "fuse_request",
    "fuse_notify",
  ]);
  assert.equal(events[0].channel, "vq1");
  assert.equal(events[0].queue, 1);
  assert.equal(events[0].direction, "inbound");
  assert.equal(events[3].channel, "/dev/fuse");
  assert.equal(events[3].queue, undefined);
  assert.equal(events[3].fuse_minor, 31);
  // INIT reply paired and decoded as INIT
  assert.equal(events[2].fuse?.op, "INIT");
  assert.equal(events[2].fuse?.request_frame, 2);
  assert.equal(events[2].fuse?.latency_ns, 500n);
  // LOOKUP "nope" answered ENOENT, paired out of order
  const enoent = events[5];
  assert.equal(enoent.direction, "outbound");
  assert.equal(enoent.fuse?.op, "LOOKUP");
  assert.equal(enoent.fuse?.opcode, 1);
  assert.equal(enoent.fuse?.unique, 6n);
  assert.equal(enoent.fuse?.nodeid, 1n);
  assert.equal(enoent.fuse?.error, -2);
  assert.equal(enoent.fuse?.request_frame, 5);
  assert.equal(enoent.fuse?.latency_ns, 700n);
  const ok = events[6];
  assert.equal(ok.fuse?.request_frame, 4);
  assert.equal(ok.fuse?.latency_ns, 2500n);
  assert.ok(ok.fuse?.reply?.op === "LOOKUP" && ok.fuse.reply.body?.nodeid === 9n);
  assert.equal(events[3].fuse?.request?.op, "LOOKUP");
  // the damaged reply: an error naming the field, the next frames still decode
  assert.ok(events[7].error instanceof CodecError);
  assert.match(events[7].error!.message, /fuse_out_header\.len/);
  assert.equal(events[8].fuse?.op, "GETATTR");
  assert.equal(events[8].fuse?.nodeid, 9n);
  assert.equal(events[9].fuse?.op, "NOTIFY_INVAL_INODE");
  assert.equal(events[9].fuse?.unique, 0n);
  assert.equal(events[9].time_ns, 15_000n);
  // summary: GETATTR 10 unanswered, the garbage reply's unique 8 matched nothing
  assert.equal(summary.done, true);
  assert.equal(summary.format, "pcapng");
  assert.equal(summary.frames, 10);
  assert.equal(summary.decodeErrors, 1);
  assert.equal(summary.unansweredCount, 1);
  assert.deepEqual(summary.unanswered.map((u) => [u.frame, u.unique, u.op]), [[9, 10n, "GETATTR"]]);
  assert.equal(summary.unmatchedReplies, 1);
});

Deno.test("events: byte-at-a-time chunks give the same events as one chunk", async () => {
  const { bytes } = buildCapture();
  const whole = await collect(bytes);
  const bytewise = await collect(bytes, {}, 1);
  const key = (e: CaptureEvent) =>
    [
      e.frame,
      e.offset,
      e.time_ns,
      e.channel,
      e.kind,
      e.fuse?.op,
      e.fuse?.unique,
      e.fuse?.latency_ns,
      e.error?.message,
    ]
      .join("|");
  assert.deepEqual(bytewise.events.map(key), whole.events.map(key));
});

Deno.test("events: a truncated file yields every whole block, then a CodecError at the cut", async () => {
  const { bytes, blockOffsets } = buildCapture();
  const cutBlock = 6; // cut in the middle of the 7th packet
  const cut = blockOffsets[cutBlock] + 10;
  const { events, error, summary } = await collect(bytes.slice(0, cut));
  assert.equal(events.length, cutBlock);
  assert.ok(error instanceof CodecError);
  assert.equal(error.offset, blockOffsets[cutBlock]);
  assert.match(error.message, new RegExp(`at byte ${blockOffsets[cutBlock]}: truncated`));
  assert.equal(summary.damage, error);
  assert.equal(summary.done, true);
  // "stop" ends quietly with the same events and the damage in the summary
  const stopped = await collect(bytes.slice(0, cut), { onDamage: "stop" });
  assert.equal(stopped.error, undefined);
  assert.equal(stopped.events.length, cutBlock);
  assert.equal(stopped.summary.damage?.offset, blockOffsets[cutBlock]);
});

Deno.test("events: a corrupt block length stops at that block's offset", async () => {
  const { bytes, blockOffsets } = buildCapture();
  const broken = bytes.slice();
  new DataView(broken.buffer).setUint32(blockOffsets[3] + 4, 13, true); // not a multiple of 4
  const { events, error } = await collect(broken);
  assert.equal(events.length, 3);
  assert.ok(error instanceof CodecError);
  assert.equal(error.offset, blockOffsets[3] + 4);
});

Deno.test("events: a raw FUSE stream (both directions back to back) is detected and paired", async () => {
  const bytes = concat([
    encodeRequest({
      op: "INIT",
      header: { unique: 2n },
      body: { major: 7, minor: 38, max_readahead: 0, flags: 0, flags2: 0 },
    }),
    encodeRequest(lookup(4n, "x")),
    encodeErrorReply(4n, 2),
    encodeRequest({ op: "FORGET", header: { unique: 6n, nodeid: 3n }, body: { nlookup: 1n } }),
    encodeRequest(lookup(8n, "y")),
  ]);
  const { events, error, summary } = await collect(bytes, {}, 5);
  assert.equal(error, undefined);
  assert.equal(summary.format, "fuse_stream");
  assert.deepEqual(events.map((e) => [e.kind, e.fuse?.op, e.channel]), [
    ["fuse_request", "INIT", "stream"],
    ["fuse_request", "LOOKUP", "stream"],
    ["fuse_reply", "LOOKUP", "stream"],
    ["fuse_request", "FORGET", "stream"],
    ["fuse_request", "LOOKUP", "stream"],
  ]);
  assert.equal(events[2].fuse?.request_frame, 2);
  assert.equal(events[2].fuse?.error, -2);
  // INIT never answered, LOOKUP 8 never answered; FORGET expects no answer
  assert.deepEqual(summary.unanswered.map((u) => u.unique), [2n, 8n]);
});

Deno.test("events: the pairing table is bounded; evicted requests are counted", async () => {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c));
  const dev = w.addInterface({ name: "/dev/fuse" });
  for (let i = 1; i <= 50; i++) {
    w.writePacket(
      dev,
      recordPacket(
        { kind: "fuse_request" },
        encodeRequest(lookup(BigInt(i * 2), `f${i}`)),
        BigInt(i),
      ),
    );
  }
  // the newest is still paired, the oldest was evicted
  w.writePacket(dev, recordPacket({ kind: "fuse_reply" }, encodeErrorReply(100n, 2), 1000n));
  w.writePacket(dev, recordPacket({ kind: "fuse_reply" }, encodeErrorReply(2n, 2), 1001n));
  const { events, summary } = await collect(concat(chunks), { maxPending: 8 });
  assert.equal(events[50].fuse?.op, "LOOKUP");
  assert.equal(events[50].fuse?.request_frame, 50);
  assert.equal(events[51].fuse?.op, "UNKNOWN");
  assert.equal(events[51].fuse?.request_frame, undefined);
  assert.equal(summary.evicted, 42);
  assert.equal(summary.unanswered.length, 7);
  assert.equal(summary.unansweredCount, 49);
  assert.equal(summary.unmatchedReplies, 1);
});

Deno.test("events: the synthetic capture, read from a file with progress", async () => {
  const size = (await Deno.stat(SYNTHETIC)).size;
  const progress: [number, number | undefined][] = [];
  const { events, error, summary } = await collect(SYNTHETIC, {
    chunkBytes: 256,
    onProgress: (n, t) => progress.push([n, t]),
  });
  assert.equal(error, undefined);
  // one event per packet, as an independent reader counts them
  const r = new CaptureReader();
  r.push(await Deno.readFile(SYNTHETIC));
  r.end();
  let packets = 0;
  for (let it = r.next(); it !== undefined; it = r.next()) if (it.kind === "packet") packets++;
  assert.equal(events.length, packets);
  assert.equal(summary.bytesRead, size);
  assert.equal(progress.at(-1)?.[0], size);
  assert.ok(progress.every(([, t]) => t === size));
  assert.ok(progress.length >= Math.floor(size / 256));
  const vu = events.filter((e) => e.vhost_user !== undefined);
  assert.ok(vu.length >= 3);
  assert.equal(vu[0].vhost_user?.name, "GET_FEATURES");
  assert.equal(vu[1].vhost_user?.reply, true);
  assert.ok(vu.some((e) => (e.fd_count ?? 0) > 0));
  const chain = events.find((e) => e.kind === "ring_chain");
  assert.ok(chain?.chain !== undefined && chain.chain.descriptors > 0);
  const enoent = events.find((e) => e.fuse?.error === -2);
  assert.equal(enoent?.fuse?.op, "LOOKUP");
  assert.equal(enoent?.channel, "/dev/fuse");
});

Deno.test("events: a missing file rejects with NotFound; iterating twice is refused", async () => {
  await assert.rejects(async () => {
    for await (const _ of readEvents("/nonexistent/capture.pcapng")) { /* nothing */ }
  }, Deno.errors.NotFound);
  const s = readEvents([new Uint8Array(0)]);
  for await (const _ of s) { /* empty */ }
  assert.throws(() => s[Symbol.asyncIterator](), /only once/);
});

Deno.test("events: replies pair within their session (two sections, two /dev/fuse channels)", async () => {
  // two guests one after another: the second reuses unique 6, which the first never answered
  const guests = await collect(twoGuestsCapture(), { bodies: "lazy" });
  const replies = guests.events.filter((e) => e.kind === "fuse_reply");
  for (const r of replies) {
    const req = guests.events[r.fuse!.request_frame! - 1];
    assert.equal(req.session, r.session);
    assert.equal(req.section, r.section);
    assert.equal(req.fuse!.unique, r.fuse!.unique);
  }
  assert.deepEqual([...new Set(guests.events.map((e) => e.session))], [0, 1]);
  assert.deepEqual(guests.summary.unanswered.map((u) => [u.unique, u.op]), [[6n, "GETXATTR"]]);
  assert.equal(guests.summary.unmatchedReplies, 0);
  // two mounts in one section, interleaved, with the same uniques
  const chunks: Uint8Array[] = [];
  const out = new PcapngWriter((c) => chunks.push(c));
  const a = out.addInterface({ name: "/dev/fuse" });
  const b = out.addInterface({ name: "/dev/fuse" });
  const lookup = (unique: bigint, name: string) =>
    encodeRequest({ op: "LOOKUP", header: { unique, nodeid: 1n }, body: { name } });
  const put = (iface: number, h: RecordHeader, bytes: Uint8Array, t: bigint) =>
    out.writePacket(iface, recordPacket(h, bytes, t));
  put(a, { kind: "fuse_request" }, lookup(2n, "a"), 10n);
  put(b, { kind: "fuse_request" }, lookup(2n, "b"), 20n);
  put(b, { kind: "fuse_reply" }, encodeErrorReply(2n, 2), 25n);
  put(a, { kind: "fuse_reply" }, encodeErrorReply(2n, 13), 110n);
  out.flush();
  const mounts = await collect(concat(chunks));
  const [ra, rb] = [mounts.events[3], mounts.events[2]];
  assert.equal(rb.fuse!.request_frame, 2);
  assert.equal(rb.fuse!.latency_ns, 5n);
  assert.equal(ra.fuse!.request_frame, 1);
  assert.equal(ra.fuse!.latency_ns, 100n);
  assert.notEqual(ra.session, rb.session);
});

Deno.test("events: lazy bodies decode on access and count their errors once", async () => {
  const eager = await collect(SYNTHETIC);
  const lazy = await collect(SYNTHETIC, { bodies: "lazy" });
  assert.equal(lazy.events.length, eager.events.length);
  for (let i = 0; i < eager.events.length; i++) {
    const [e, l] = [eager.events[i], lazy.events[i]];
    assert.deepEqual(l.fuse?.request, e.fuse?.request);
    assert.deepEqual(l.fuse?.reply, e.fuse?.reply);
    assert.equal(l.error?.message, e.error?.message);
    assert.equal(l.time_ns, e.time_ns);
    assert.deepEqual(l.bytes, e.bytes);
  }
  assert.equal(lazy.summary.decodeErrors, eager.summary.decodeErrors);
});
