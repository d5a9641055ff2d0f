/**
 * A small synthetic ringside capture, byte for byte reproducible, for tests
 * and for testdata/pcapng/synthetic.pcapng: every record kind, five channels,
 * FUSE and vhost-user messages built field by field from fuse.h and
 * vhost-user.rst (not recorded from a real peer: real captures come from the
 * recorder).
 *
 * @module
 */
import { encodeRecordPrefix, recordDirection, type RecordHeader } from "./record.ts";
import { PcapngWriter } from "./writer.ts";

/** Base time of the fixture: 2023-11-14T22:13:20Z. */
export const FIXTURE_EPOCH_NS = 1_700_000_000_000_000_000n;

function le(fields: [number, number | bigint][]): Uint8Array {
  const size = fields.reduce((n, [w]) => n + w, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let p = 0;
  for (const [w, x] of fields) {
    if (w === 2) v.setUint16(p, Number(x), true);
    else if (w === 4) v.setUint32(p, Number(x) >>> 0, true);
    else if (w === 8) v.setBigUint64(p, BigInt.asUintN(64, BigInt(x)), true);
    else if (w === 1) out[p] = Number(x);
    // any other width is that many zero bytes (reserved / unused arrays)
    p += w;
  }
  return out;
}

function withBody(head: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** fuse_in_header (40 bytes) then `body`; `len` covers both. */
function fuseIn(opcode: number, unique: bigint, nodeid: bigint, body: Uint8Array): Uint8Array {
  return withBody(
    le([
      [4, 40 + body.length],
      [4, opcode],
      [8, unique],
      [8, nodeid],
      [4, 1000],
      [4, 1000],
      [4, 4242],
      [2, 0],
      [2, 0],
    ]),
    body,
  );
}

/** fuse_out_header (16 bytes) then `body`. */
function fuseOut(error: number, unique: bigint, body: Uint8Array): Uint8Array {
  return withBody(le([[4, 16 + body.length], [4, error], [8, unique]]), body);
}

/** vhost-user header (request, flags, size) then `payload`. */
function vhostUser(request: number, flags: number, payload: Uint8Array): Uint8Array {
  return withBody(le([[4, request], [4, flags], [4, payload.length]]), payload);
}

/** Builds the fixture capture; returns its bytes. */
export function buildSyntheticCapture(): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c), {
    userappl: "ringside synthetic fixture",
    os: "Linux",
    comment: "synthetic: built field by field by codecs/pcapng/_fixture.ts",
    bufferBytes: 4096,
  });
  const control = w.addInterface({
    name: "vhost-user",
    description: "vhost-user control socket",
  });
  const hiprio = w.addInterface({ name: "vq0", description: "virtio-fs hiprio queue" });
  const requests = w.addInterface({ name: "vq1", description: "virtio-fs request queue 1" });
  const dev = w.addInterface({ name: "/dev/fuse", description: "host kernel FUSE device" });
  const sock = w.addInterface({
    name: "unix:/tmp/ringside.sock",
    description: "FUSE over a socket",
  });
  let t = FIXTURE_EPOCH_NS;
  const put = (iface: number, header: RecordHeader, payload: Uint8Array, comment?: string) => {
    t += 1_500n;
    w.writePacket(iface, {
      timestampNs: t,
      data: [encodeRecordPrefix(header), payload],
      direction: recordDirection(header.kind),
      comment,
    });
  };
  const none = new Uint8Array(0);
  // vhost-user: GET_FEATURES (1) and its reply (flags: version 1, reply bit 0x4)
  put(control, { kind: "vhost_user_front_to_back" }, vhostUser(1, 0x1, none));
  put(control, { kind: "vhost_user_back_to_front" }, vhostUser(1, 0x5, le([[8, 0x1_7000_0000n]])));
  // SET_MEM_TABLE (5): one region, one memfd passed
  put(
    control,
    { kind: "vhost_user_front_to_back", fdCount: 1 },
    vhostUser(
      5,
      0x1,
      le([[4, 1], [4, 0], [8, 0n], [8, 0x4000_0000n], [8, 0x7f00_0000_0000n], [8, 0n]]),
    ),
  );
  // SET_VRING_KICK (12) for queue 1, eventfd passed
  put(control, { kind: "vhost_user_front_to_back", fdCount: 1 }, vhostUser(12, 0x1, le([[8, 1n]])));
  // the guest kicks queue 1; a chain of 2 descriptors carries FUSE_INIT 7.38
  const chain = { head: 0, descriptors: 2, readableBytes: 104, writableBytes: 80 };
  put(requests, { kind: "ring_kick", queue: 1 }, none);
  put(requests, { kind: "ring_chain", queue: 1, chain }, none);
  const initIn = fuseIn(
    26,
    1n,
    0n,
    // fuse_init_in: major, minor, max_readahead, flags, flags2, unused[11]
    le([[4, 7], [4, 38], [4, 131072], [4, 0x73fffffb], [4, 0], [44, 0]]),
  );
  put(requests, { kind: "fuse_request", queue: 1, chain, fuseMinor: 38 }, initIn, "FUSE_INIT");
  const initOut = fuseOut(
    0,
    1n,
    // fuse_init_out: major, minor, max_readahead, flags, max_background,
    // congestion_threshold, max_write, time_gran, max_pages, map_alignment, flags2, unused[7]
    le([
      [4, 7],
      [4, 38],
      [4, 131072],
      [4, 0x40000bfb],
      [2, 12],
      [2, 9],
      [4, 1048576],
      [4, 1],
      [2, 256],
      [2, 0],
      [4, 0],
      [28, 0],
    ]),
  );
  put(requests, { kind: "fuse_reply", queue: 1, chain, fuseMinor: 38 }, initOut);
  put(requests, { kind: "ring_call", queue: 1 }, none);
  // hiprio: FORGET (2) of node 5, no reply
  put(
    hiprio,
    {
      kind: "fuse_request",
      queue: 0,
      fuseMinor: 38,
      chain: { ...chain, head: 3, descriptors: 1, readableBytes: 48, writableBytes: 0 },
    },
    fuseIn(2, 7n, 5n, le([[8, 1n]])),
  );
  // /dev/fuse: LOOKUP "missing" in the root, answered ENOENT (-2)
  const name = new TextEncoder().encode("missing\0");
  put(dev, { kind: "fuse_request", fuseMinor: 38 }, fuseIn(1, 2n, 1n, name));
  put(dev, { kind: "fuse_reply", fuseMinor: 38 }, fuseOut(-2, 2n, none));
  // a notification: FUSE_NOTIFY_INVAL_INODE (2), unique 0
  put(
    dev,
    { kind: "fuse_notify", fuseMinor: 38 },
    fuseOut(2, 0n, le([[8, 5n], [8, 0n], [8, -1n]])),
  );
  // socket: GETATTR (3) of the root and a malformed-chain flag example
  put(
    sock,
    { kind: "fuse_request", fuseMinor: 38 },
    fuseIn(3, 4n, 1n, le([[4, 0], [4, 0], [8, 0n]])),
  );
  put(
    requests,
    {
      kind: "ring_chain",
      queue: 1,
      flags: 0x0002,
      chain: { head: 9, descriptors: 3, readableBytes: 16, writableBytes: 0 },
    },
    none,
    "malformed chain: readable descriptor after a writable one",
  );
  w.flush();
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}
