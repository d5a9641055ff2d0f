/**
 * Capture reader and writer throughput: `deno bench -A bench/pcapng_bench.ts`.
 * Each bench reads (or writes) a whole synthetic capture held in memory, fed
 * in 64 KiB chunks as from a file; MB/s = capture size / time per iteration
 * (the sizes are in the bench names). Analyzers aim at >= 200 MB/s per core.
 *
 * @module
 */
import { decodeRecord, encodeRecordPrefix, type RecordKind } from "../codecs/pcapng/record.ts";
import { PcapngReader } from "../codecs/pcapng/reader.ts";
import { PcapngWriter } from "../codecs/pcapng/writer.ts";

const CHUNK = 64 * 1024;

/** A capture of about `bytes` bytes whose payloads cycle through `sizes`. */
function build(bytes: number, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const w = new PcapngWriter((c) => out.push(c), { bufferBytes: CHUNK });
  const ifaces = [w.addInterface({ name: "vq1" }), w.addInterface({ name: "vq2" })];
  const kinds: RecordKind[] = ["fuse_request", "fuse_reply"];
  const prefixes = kinds.map((kind) => encodeRecordPrefix({ kind, queue: 1, fuseMinor: 38 }));
  const payloads = sizes.map((n) => new Uint8Array(n).fill(7));
  let ts = 1_700_000_000_000_000_000n;
  for (let i = 0; w.bytesWritten + w.bufferedBytes < bytes; i++) {
    ts += 1000n;
    w.writePacket(ifaces[i & 1], {
      timestampNs: ts,
      data: [prefixes[i & 1], payloads[i % payloads.length]],
      direction: i & 1 ? "outbound" : "inbound",
    });
  }
  w.flush();
  // re-cut into fixed 64 KiB chunks, as a file read delivers them (blocks span chunks)
  const all = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let p = 0;
  for (const c of out) {
    all.set(c, p);
    p += c.length;
  }
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.slice(i, i + CHUNK));
  return chunks;
}

const SIZE = 32 * 1024 * 1024;
// small: FUSE metadata traffic (LOOKUP, GETATTR, their replies); mixed: with 4 KiB and 128 KiB I/O
const workloads: [string, number[]][] = [
  ["small messages", [56, 136, 48, 120, 16, 104]],
  ["mixed I/O", [56, 136, 80, 4096, 16, 131072]],
];

for (const [name, sizes] of workloads) {
  const chunks = build(SIZE, sizes);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  Deno.bench(`pcapng read, ${name}: ${(total / 2 ** 20).toFixed(0)} MiB`, { group: name }, () => {
    const r = new PcapngReader();
    let n = 0;
    for (const c of chunks) {
      r.push(c);
      for (let b = r.next(); b !== undefined; b = r.next()) n++;
    }
    r.end();
    if (r.next() !== undefined) throw new Error("leftover");
    if (n === 0) throw new Error("no blocks");
  });
  Deno.bench(
    `pcapng read + decodeRecord, ${name}: ${(total / 2 ** 20).toFixed(0)} MiB`,
    { group: name },
    () => {
      const r = new PcapngReader();
      let minor = 0;
      for (const c of chunks) {
        r.push(c);
        for (let b = r.next(); b !== undefined; b = r.next()) {
          if (b.kind === "packet") minor += decodeRecord(b.data).header.fuseMinor ?? 0;
        }
      }
      r.end();
      if (minor === 0) throw new Error("no records decoded");
    },
  );
  Deno.bench(`pcapng write, ${name}: ${(total / 2 ** 20).toFixed(0)} MiB`, { group: name }, () => {
    let n = 0;
    const w = new PcapngWriter((c) => (n += c.length), { bufferBytes: CHUNK });
    w.addInterface({ name: "vq1" });
    const prefix = encodeRecordPrefix({ kind: "fuse_request", queue: 1, fuseMinor: 38 });
    const payloads = sizes.map((s) => new Uint8Array(s));
    let ts = 1_700_000_000_000_000_000n;
    for (let i = 0; n + w.bufferedBytes < total; i++) {
      ts += 1000n;
      w.writePacket(0, {
        timestampNs: ts,
        data: [prefix, payloads[i % payloads.length]],
        direction: "inbound",
      });
    }
    w.flush();
  });
}
