/**
 * Private: large synthetic captures for the analyzers' benchmarks and the
 * constant-memory script (bench/stats_bench.ts, bench/stats_scale.ts).
 *
 * @module
 */
import { encodeErrorReply, encodeReply, encodeRequest } from "../codecs/fuse/codec.ts";
import {
  type ChainSummary,
  encodeRecordPrefix,
  type RecordHeader,
} from "../codecs/pcapng/record.ts";
import { recordDirection } from "../codecs/pcapng/record.ts";
import { PcapngWriter } from "../codecs/pcapng/writer.ts";
import { entry } from "./_fixtures.ts";

const MINOR = 38;
const none = new Uint8Array(0);

/** Options for {@linkcode writeSyntheticCapture}. */
export interface SyntheticCaptureOptions {
  /** About how many bytes to write (default 200e6). */
  bytes?: number;
  /** `data`: 16 KiB READ replies and WRITE requests among metadata operations; `metadata` (default): only small messages. */
  mix?: "data" | "metadata";
}

/**
 * Writes a synthetic capture to `path` as the recorder writes a virtio-fs
 * session (kick, chain, request, reply and call records on two virtqueues);
 * returns its size in bytes.
 */
export async function writeSyntheticCapture(
  path: string,
  options: SyntheticCaptureOptions = {},
): Promise<number> {
  const TARGET = options.bytes ?? 200e6;
  const data = options.mix === "data";
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const pending: Uint8Array[] = [];
  const w = new PcapngWriter((c) => pending.push(c), { bufferBytes: 1 << 20 });
  const vqs = [w.addInterface({ name: "vq1" }), w.addInterface({ name: "vq2" })];
  let t = 1_700_000_000_000_000_000n;
  let unique = 2n;
  let written = 0;
  const payload = new Uint8Array(16384).fill(0x5a);
  const put = (q: number, h: RecordHeader, p: Uint8Array) => {
    w.writePacket(vqs[q - 1], {
      timestampNs: t,
      data: [encodeRecordPrefix(h), p],
      direction: recordDirection(h.kind),
    });
  };
  for (let i = 0; written < TARGET; i++) {
    const q = 1 + (i & 1);
    const u = unique;
    unique += 2n;
    const node = 100n + BigInt(i % 5000);
    const kind = data ? i % 10 : 10 + (i % 6);
    let req: Uint8Array;
    let rep: Uint8Array;
    switch (kind) {
      case 0:
      case 1:
      case 2:
      case 10:
      case 11: {
        req = encodeRequest({
          op: "LOOKUP",
          header: { unique: u, nodeid: 1n },
          body: { name: `f${i % 5000}` },
        }, { minor: MINOR });
        rep = i % 13 === 0
          ? encodeErrorReply(u, 2)
          : encodeReply({ op: "LOOKUP", header: { unique: u }, body: entry(node) }, {
            minor: MINOR,
          });
        break;
      }
      case 3:
      case 12:
        req = encodeRequest({
          op: "GETATTR",
          header: { unique: u, nodeid: node },
          body: { getattr_flags: 0, dummy: 0, fh: 0n },
        }, { minor: MINOR });
        rep = encodeReply({
          op: "GETATTR",
          header: { unique: u },
          body: { attr_valid: 1n, attr_valid_nsec: 0, dummy: 0, attr: entry(node).attr },
        }, { minor: MINOR });
        break;
      case 4:
      case 5:
      case 6:
        req = encodeRequest({
          op: "READ",
          header: { unique: u, nodeid: node },
          body: {
            fh: node,
            offset: 0n,
            size: 16384,
            read_flags: 0,
            lock_owner: 0n,
            flags: 0,
            padding: 0,
          },
        }, { minor: MINOR });
        rep = encodeReply({ op: "READ", header: { unique: u }, body: { data: payload } }, {
          minor: MINOR,
        });
        break;
      case 7:
      case 8:
        req = encodeRequest({
          op: "WRITE",
          header: { unique: u, nodeid: node },
          body: {
            fh: node,
            offset: 0n,
            size: 16384,
            write_flags: 0,
            lock_owner: 0n,
            flags: 0,
            padding: 0,
            data: payload,
          },
        }, { minor: MINOR });
        rep = encodeReply(
          { op: "WRITE", header: { unique: u }, body: { size: 16384, padding: 0 } },
          { minor: MINOR },
        );
        break;
      case 13:
        req = encodeRequest({
          op: "OPEN",
          header: { unique: u, nodeid: node },
          body: { flags: 0, open_flags: 0 },
        }, { minor: MINOR });
        rep = encodeReply({
          op: "OPEN",
          header: { unique: u },
          body: { fh: node, open_flags: 0, backing_id: 0 },
        }, { minor: MINOR });
        break;
      case 14:
        req = encodeRequest({
          op: "RELEASE",
          header: { unique: u, nodeid: node },
          body: { fh: node, flags: 0, release_flags: 0, lock_owner: 0n },
        }, { minor: MINOR });
        rep = encodeReply({ op: "RELEASE", header: { unique: u }, body: {} }, { minor: MINOR });
        break;
      default: {
        req = encodeRequest({
          op: "READDIRPLUS",
          header: { unique: u, nodeid: 1n },
          body: {
            fh: 7n,
            offset: 0n,
            size: 4096,
            read_flags: 0,
            lock_owner: 0n,
            flags: 0,
            padding: 0,
          },
        }, { minor: MINOR });
        const entries = [0, 1, 2].map((k) => ({
          entry_out: entry(node + BigInt(k)),
          dirent: {
            ino: node + BigInt(k),
            off: BigInt(k + 1),
            namelen: String(i % 5000 + k).length + 1,
            type: 8,
            name: `f${i % 5000 + k}`,
          },
        }));
        rep = encodeReply({ op: "READDIRPLUS", header: { unique: u }, body: { entries } }, {
          minor: MINOR,
        });
      }
    }
    const chain: ChainSummary = {
      head: i % 1024,
      descriptors: 2,
      readableBytes: req.length,
      writableBytes: Math.max(rep.length, 4096),
    };
    t += 1000n;
    put(q, { kind: "ring_kick", queue: q }, none);
    put(q, { kind: "ring_chain", queue: q, chain }, none);
    put(q, { kind: "fuse_request", queue: q, chain, fuseMinor: MINOR }, req);
    t += 15_000n;
    put(q, { kind: "fuse_reply", queue: q, chain, fuseMinor: MINOR }, rep);
    put(q, { kind: "ring_call", queue: q }, none);
    if (pending.length > 0) {
      for (const c of pending) {
        await file.write(c);
        written += c.length;
      }
      pending.length = 0;
    }
  }
  w.flush();
  for (const c of pending) {
    await file.write(c);
    written += c.length;
  }
  file.close();
  return written;
}
