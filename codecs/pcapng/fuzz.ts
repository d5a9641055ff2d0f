/**
 * Fuzz target for the capture readers: valid captures (pcapng, pcap, raw FUSE
 * streams) are mutated (bytes flipped, lengths rewritten, tails cut, pieces
 * duplicated) and fed in random chunk sizes. Properties checked on every case:
 * only {@linkcode CodecError} escapes, the error sticks, offsets grow,
 * packet data lies inside the input, the result does not depend on how the
 * input was chunked, and unmutated inputs read back exactly as written.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import type { FuzzTarget } from "../../testing/fuzz.ts";
import { prng } from "../../testing/fuzz.ts";
import { CaptureReader, detectCaptureFormat } from "./detect.ts";
import { decodeRecord, encodeRecordPrefix, RECORD_KIND_CODES, type RecordKind } from "./record.ts";
import { PcapngWriter } from "./writer.ts";

interface Seed {
  bytes: Uint8Array;
  /** Items a clean read returns. */
  items: number;
  /** Packet payload lengths of a clean read, in order (pcapng seeds). */
  packetLengths?: number[];
}

type Rand = () => number;

function int(rand: Rand, n: number): number {
  return Math.floor(rand() * n);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

const KINDS = Object.keys(RECORD_KIND_CODES) as RecordKind[];

function pcapngSeed(rand: Rand): Seed {
  const chunks: Uint8Array[] = [];
  const w = new PcapngWriter((c) => chunks.push(c), {
    comment: rand() < 0.3 ? "c".repeat(int(rand, 9)) : undefined,
    bufferBytes: int(rand, 2) * 256,
  });
  const ifaces = 1 + int(rand, 3);
  for (let i = 0; i < ifaces; i++) {
    w.addInterface({ name: `vq${i}`, description: rand() < 0.5 ? "d" : undefined });
  }
  const packets = int(rand, 5);
  const packetLengths: number[] = [];
  for (let i = 0; i < packets; i++) {
    const kind = KINDS[int(rand, KINDS.length)];
    const payload = new Uint8Array(int(rand, 48));
    for (let j = 0; j < payload.length; j++) payload[j] = int(rand, 256);
    w.writePacket(int(rand, ifaces), {
      timestampNs: BigInt(int(rand, 2 ** 31)) * 1_000_000_007n,
      data: [encodeRecordPrefix({ kind, queue: int(rand, 3), fuseMinor: int(rand, 46) }), payload],
      direction: rand() < 0.5 ? "inbound" : "outbound",
      comment: rand() < 0.2 ? "x".repeat(int(rand, 7)) : undefined,
      packetId: rand() < 0.2 ? BigInt(i) : undefined,
    });
    packetLengths.push(payload.length);
  }
  w.flush();
  const bytes = concat(chunks);
  return { bytes, items: 1 + ifaces + packets, packetLengths };
}

function pcapSeed(rand: Rand): Seed {
  const records = int(rand, 4);
  const parts: number[] = [
    0xd4,
    0xc3,
    0xb2,
    0xa1,
    2,
    0,
    4,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    4,
    0,
    252,
    0,
    0,
    0,
  ];
  if (rand() < 0.5) parts.splice(0, 4, 0x4d, 0x3c, 0xb2, 0xa1);
  for (let i = 0; i < records; i++) {
    const len = int(rand, 40);
    parts.push(i, 0, 0, 0, 5, 0, 0, 0, len, 0, 0, 0, len, 0, 0, 0);
    for (let j = 0; j < len; j++) parts.push(int(rand, 256));
  }
  return { bytes: new Uint8Array(parts), items: 1 + records };
}

function fuseSeed(rand: Rand): Seed {
  const messages = 1 + int(rand, 4);
  const out: Uint8Array[] = [];
  for (let i = 0; i < messages; i++) {
    const m = new Uint8Array(40 + int(rand, 24));
    const v = new DataView(m.buffer);
    v.setUint32(0, m.length, true);
    v.setUint32(4, i === 0 ? 26 : 1 + int(rand, 50), true);
    if (i === 0 && m.length >= 48) v.setUint32(40, 7, true);
    v.setBigUint64(8, BigInt(i + 1), true);
    out.push(m);
  }
  return { bytes: concat(out), items: messages };
}

function mutate(bytes: Uint8Array, rand: Rand): Uint8Array {
  let b: Uint8Array = bytes.slice();
  const rounds = 1 + int(rand, 3);
  for (let r = 0; r < rounds && b.length > 0; r++) {
    const op = int(rand, 6);
    const at = int(rand, b.length);
    if (op === 0) b[at] ^= 1 << int(rand, 8);
    else if (op === 1) b[at] = int(rand, 256);
    else if (op === 2) b = b.slice(0, at);
    else if (op === 3 && at + 4 <= b.length) {
      // rewrite a 32-bit field with an interesting value
      const vals = [0, 1, 11, 12, 13, 28, 0xffff, 0x7fffffff, 0xffffffff, b.length, int(rand, 512)];
      new DataView(b.buffer).setUint32(at, vals[int(rand, vals.length)], rand() < 0.5);
    } else if (op === 4) {
      const end = Math.min(b.length, at + int(rand, 64));
      b = concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]);
    } else {
      b = concat([b.subarray(0, at), b.subarray(at + int(rand, 16))]);
    }
  }
  return b;
}

interface Outcome {
  items: { kind: string; offset: number; length: number }[];
  error?: CodecError;
}

function read(bytes: Uint8Array, rand: Rand | undefined, caseInfo: string): Outcome {
  const r = new CaptureReader();
  const items: Outcome["items"] = [];
  let error: CodecError | undefined;
  let lastOffset = -1;
  const take = () => {
    for (let it = r.next(); it !== undefined; it = r.next()) {
      if (it.offset <= lastOffset) {
        throw new Error(`${caseInfo}: offset ${it.offset} after ${lastOffset}`);
      }
      lastOffset = it.offset;
      let length = 0;
      if (it.kind === "packet" || it.kind === "message") {
        length = it.data.length;
        if (it.offset + length > bytes.length) throw new Error(`${caseInfo}: data past the input`);
        if (it.kind === "packet" && it.data.length >= 1) {
          try {
            decodeRecord(it.data);
          } catch (e) {
            if (!(e instanceof CodecError)) throw e;
          }
        }
      }
      items.push({ kind: it.kind, offset: it.offset, length });
      if (items.length > bytes.length) throw new Error(`${caseInfo}: more items than bytes`);
    }
  };
  try {
    let p = 0;
    while (p < bytes.length) {
      const n = rand === undefined ? bytes.length : 1 + int(rand, 64);
      r.push(bytes.slice(p, p + n));
      p += n;
      take();
    }
    r.end();
    take();
  } catch (e) {
    if (!(e instanceof CodecError)) {
      throw new Error(`${caseInfo}: ${e instanceof Error ? e.stack : e}`);
    }
    error = e;
    let again: unknown;
    try {
      r.next();
    } catch (e2) {
      again = e2;
    }
    if (!(again instanceof CodecError) || again.message !== e.message) {
      throw new Error(`${caseInfo}: the error did not stick`);
    }
  }
  return { items, error };
}

/** The readers' fuzz target (`pcapng.readers`). */
export const pcapngFuzzTarget: FuzzTarget = {
  name: "pcapng.readers",
  run(iterations: number, seed: number): void {
    const rand = prng(seed);
    const seeds: Seed[] = [];
    for (let i = 0; i < 48; i++) seeds.push(pcapngSeed(rand), pcapSeed(rand), fuseSeed(rand));
    for (let i = 0; i < iterations; i++) {
      const info = `pcapng.readers seed ${seed} case ${i}`;
      const s = seeds[int(rand, seeds.length)];
      const clean = rand() < 0.05;
      const bytes = clean ? s.bytes : mutate(s.bytes, rand);
      detectCaptureFormat(bytes.subarray(0, int(rand, bytes.length + 1)));
      const whole = read(bytes, undefined, info);
      const pieces = read(bytes, rand, info);
      if (
        whole.items.length !== pieces.items.length ||
        whole.error?.message !== pieces.error?.message ||
        whole.items.some((it, j) =>
          it.offset !== pieces.items[j].offset || it.length !== pieces.items[j].length
        )
      ) {
        throw new Error(`${info}: result depends on chunking`);
      }
      if (clean) {
        if (whole.error !== undefined) {
          throw new Error(`${info}: clean input failed: ${whole.error.message}`);
        }
        if (whole.items.length !== s.items) {
          throw new Error(`${info}: ${whole.items.length} items, wrote ${s.items}`);
        }
        if (s.packetLengths !== undefined) {
          const lengths = whole.items.filter((it) => it.kind === "packet").map((it) =>
            it.length - 40
          );
          if (lengths.join() !== s.packetLengths.join()) {
            throw new Error(`${info}: packet lengths differ`);
          }
        }
      }
    }
  },
};
