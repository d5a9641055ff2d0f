/**
 * `ringside stats` and `check` throughput on large synthetic captures:
 * `deno bench -A bench/stats_bench.ts` (RINGSIDE_BENCH_MB sets the size,
 * default 200). For MB/s medians in fresh processes, peak memory, and a 1 GB
 * capture, run `deno run -A bench/stats_scale.ts`.
 *
 * Two captures are generated into temp files first (as a recorder writes
 * them: kick, chain, request, reply and call records on two virtqueues):
 * `data` is a read/write-heavy session (16 KiB READ replies and WRITE
 * requests among metadata operations), `metadata` has only small messages
 * (LOOKUP, GETATTR, OPEN, RELEASE, READDIRPLUS, ENOENT lookups), which is
 * the hard case per byte. For each, the benches split where the time goes:
 * the pcapng container alone, `readEvents` (records, headers, pairing; lazy
 * bodies, in batches, as the CLI reads), and `readEvents` plus the stats or
 * the check analyzer. MB/s is the file size over the time per iteration
 * (the sizes are in the names).
 *
 * @module
 */
import { PacketSlot, PcapngReader } from "../codecs/pcapng/reader.ts";
import { readEvents } from "../analyzers/events.ts";
import { StatsAnalyzer } from "../analyzers/stats.ts";
import { CheckAnalyzer } from "../analyzers/check.ts";
import { writeSyntheticCapture } from "../analyzers/_synthetic.ts";

const TARGET = Number(Deno.env.get("RINGSIDE_BENCH_MB") ?? "200") * 1e6;

const dir = await Deno.makeTempDir({ prefix: "ringside-stats-bench-" });
const captures: { name: string; path: string; size: number }[] = [];
for (const mix of ["data", "metadata"] as const) {
  const path = `${dir}/${mix}.pcapng`;
  const size = await writeSyntheticCapture(path, { bytes: TARGET, mix });
  captures.push({ name: mix, path, size });
}
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

for (const c of captures) {
  const mb = (c.size / 1e6).toFixed(0);
  const opts = { group: c.name, n: 3, warmup: 0 };
  Deno.bench({ name: `${c.name} ${mb} MB: pcapng blocks only`, ...opts }, () => {
    const r = new PcapngReader();
    const slot = new PacketSlot();
    using f = Deno.openSync(c.path);
    for (;;) {
      const buf = new Uint8Array(1 << 20);
      const n = f.readSync(buf);
      if (n === null) break;
      r.push(buf.subarray(0, n));
      while (r.nextInto(slot) !== undefined);
    }
  });
  Deno.bench({ name: `${c.name} ${mb} MB: readEvents`, ...opts }, async () => {
    let frames = 0;
    for await (const b of readEvents(c.path, { bodies: "lazy" }).batches()) frames += b.length;
    if (frames === 0) throw new Error("no frames");
  });
  Deno.bench(
    { name: `${c.name} ${mb} MB: readEvents + stats`, baseline: true, ...opts },
    async () => {
      const s = new StatsAnalyzer();
      const events = readEvents(c.path, { bodies: "lazy" });
      for await (const b of events.batches()) for (const ev of b) s.push(ev);
      if (s.finish(events.summary).totals.requests === 0) throw new Error("no requests");
    },
  );
  Deno.bench({ name: `${c.name} ${mb} MB: readEvents + check`, ...opts }, async () => {
    const s = new CheckAnalyzer();
    const events = readEvents(c.path, { bodies: "lazy" });
    for await (const b of events.batches()) for (const ev of b) s.push(ev);
    if (s.finish(events.summary).frames === 0) throw new Error("no frames");
  });
}
