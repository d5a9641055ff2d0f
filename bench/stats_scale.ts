/**
 * Throughput and memory of the analyzers on a large synthetic capture, each
 * run in a fresh process (as `ringside stats` runs), with its peak resident
 * memory (VmHWM from /proc/self/status):
 *
 * ```sh
 * deno run -A bench/stats_scale.ts                 # ~1 GB metadata capture on /dev/shm
 * deno run -A bench/stats_scale.ts --mb 200 --mix data --runs 5 --dir /tmp
 * deno run -A bench/stats_scale.ts --runs 1 --heap-mib 48   # must finish in a 48 MiB JS heap
 * ```
 *
 * Modes: `pcapng` (the container alone), `events` (readEvents with lazy
 * bodies, in batches: records, headers, pairing), `stats`, `check` (as the
 * CLI runs them: lazy bodies, batches). Prints MB/s per run and the median
 * (wall clock, and per CPU second of the main thread, which a busy machine
 * disturbs less),
 * the largest peak RSS, and the machine load before and after. Peak RSS
 * depends on how lazily V8 collects; `--heap-mib` caps the JavaScript heap
 * (V8's old space) of the runs, so a run that finishes under a small cap on
 * a large capture shows the analyzers' memory does not grow with the file. The capture
 * is deleted at the end. This is a script, not a pass/fail test: timings
 * depend on the machine.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeSyntheticCapture } from "../analyzers/_synthetic.ts";
import { readEvents } from "../analyzers/events.ts";
import { StatsAnalyzer } from "../analyzers/stats.ts";
import { CheckAnalyzer } from "../analyzers/check.ts";
import { PcapngReader } from "../codecs/pcapng/reader.ts";
import { PacketSlot } from "../codecs/pcapng/reader.ts";

const MODES = ["pcapng", "events", "stats", "check"] as const;
type Mode = typeof MODES[number];

/** Peak resident memory of this process in MiB (VmHWM), or RSS now where /proc is missing. */
function peakMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return Deno.memoryUsage().rss / 1048576;
}

/** One run of `mode` over `path` in this process: seconds taken. */
async function runOnce(mode: Mode, path: string): Promise<number> {
  const t0 = performance.now();
  if (mode === "pcapng") {
    const r = new PcapngReader();
    const slot = new PacketSlot();
    using f = await Deno.open(path);
    for (;;) {
      const buf = new Uint8Array(1 << 20);
      const n = f.readSync(buf);
      if (n === null) break;
      r.push(buf.subarray(0, n));
      while (r.nextInto(slot) !== undefined);
    }
  } else {
    const stream = readEvents(path, { bodies: "lazy" });
    const sink = mode === "stats"
      ? new StatsAnalyzer()
      : mode === "check"
      ? new CheckAnalyzer()
      : undefined;
    let frames = 0;
    for await (const batch of stream.batches()) {
      frames += batch.length;
      if (sink !== undefined) { for (const ev of batch) sink.push(ev); }
    }
    if (sink instanceof StatsAnalyzer && sink.finish(stream.summary).totals.requests === 0) {
      throw new Error("no requests");
    }
    if (sink instanceof CheckAnalyzer) sink.finish(stream.summary);
    if (frames === 0) throw new Error("no frames");
  }
  return (performance.now() - t0) / 1000;
}

/** CPU seconds the main (JavaScript) thread has used, from /proc (NaN elsewhere). */
function mainThreadCpu(): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/self/task/${Deno.pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in USER_HZ (100)
  } catch {
    return NaN;
  }
}

function load(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const args = parseArgs({
  args: Deno.args,
  options: {
    mb: { type: "string", default: "1000" },
    mix: { type: "string", default: "metadata" },
    runs: { type: "string", default: "3" },
    dir: { type: "string", default: "/dev/shm" },
    modes: { type: "string", default: MODES.join(",") },
    "heap-mib": { type: "string" },
    child: { type: "string" },
    path: { type: "string" },
  },
});

if (args.values.child !== undefined) {
  // a child: one run, one JSON line
  const cpu0 = mainThreadCpu();
  const seconds = await runOnce(args.values.child as Mode, args.values.path!);
  const cpu = mainThreadCpu() - cpu0;
  console.log(JSON.stringify({ seconds, cpu, peakMiB: peakMiB() }));
} else {
  const mix = args.values.mix === "data" ? "data" : "metadata";
  const runs = Math.max(1, Number(args.values.runs));
  const modes = args.values.modes!.split(",") as Mode[];
  const heap = args.values["heap-mib"];
  const dir = await Deno.makeTempDir({ dir: args.values.dir, prefix: "ringside-scale-" });
  const path = `${dir}/${mix}.pcapng`;
  try {
    const size = await writeSyntheticCapture(path, { bytes: Number(args.values.mb) * 1e6, mix });
    console.log(`capture: ${(size / 1e6).toFixed(0)} MB ${mix} (${path}); load ${load()}`);
    for (const mode of modes) {
      const rates: number[] = [];
      const cpuRates: number[] = [];
      let peak = 0;
      for (let i = 0; i < runs; i++) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            ...(heap === undefined ? [] : [`--v8-flags=--max-old-space-size=${heap}`]),
            import.meta.filename!,
            "--child",
            mode,
            "--path",
            path,
          ],
          stdout: "piped",
          stderr: "inherit",
        }).output();
        if (!out.success) throw new Error(`${mode} run ${i + 1} failed`);
        const r = JSON.parse(new TextDecoder().decode(out.stdout).trim());
        rates.push(size / 1e6 / r.seconds);
        cpuRates.push(size / 1e6 / r.cpu);
        peak = Math.max(peak, r.peakMiB);
      }
      console.log(
        `${mode.padEnd(7)} median ${median(rates).toFixed(0).padStart(4)} MB/s  (runs: ${
          rates.map((r) => r.toFixed(0)).join(", ")
        }); per main-thread CPU second ${median(cpuRates).toFixed(0)} MB/s; peak RSS ${
          peak.toFixed(0)
        } MiB`,
      );
    }
    console.log(`load after: ${load()}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
