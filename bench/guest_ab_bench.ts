/**
 * ringside against the C virtiofsd inside ONE guest: the guest gets four
 * virtio-fs devices (`ringside serve` with cache=auto and cache=never, and
 * /usr/lib/qemu/virtiofsd with cache=auto and cache=none, each on its own
 * host directory on /dev/shm) and runs guest/fsbench.c on them in turn,
 * round after round, the order reversed every other round.
 *
 * Why: bench/guest_bench.ts boots a guest per row, and on a small, shared
 * host two boots differ more than two back-ends do (a row's ratio between
 * reps ranged 0.5-1.9x here). Here both sides of a pair share the boot, the
 * guest's memory placement and the seconds around them, so each round gives
 * one ratio per row and the table shows their median, range and how many
 * rounds ringside won. A warm-up round first (every device once, not
 * counted) takes the cost of a fresh guest (TCG translating fsbench's and
 * the kernel's code for the first time, cold caches) off whichever device
 * would otherwise run first: in three runs here the first run of round 1
 * (always ringside-auto) came out at 0.28-1.44x its own later median while
 * vfs-auto's round 1 stood at 1.03-1.80x of its own. Each run also records
 * `backend_cpu_s`: the CPU seconds its back-end's process tree used since that back-end's previous
 * run ended (it is idle in between), so a row that polls its way ahead shows
 * what the polling costs.
 *
 * ```sh
 * deno run -A bench/guest_ab_bench.ts                      # 6 rounds, fsbench's guest_bench sizes
 * deno run -A bench/guest_ab_bench.ts --rounds 12 -- -n 1000 -s 64
 * deno run -A bench/guest_ab_bench.ts --json > ab.json     # the ratios for scripts
 * ```
 *
 * The ringside back-ends are `ringside serve` processes (what a user runs),
 * started from this checkout. Under `deno bench` this file registers nothing
 * (it is a script).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { markdownTable as table } from "./_table.ts";
import { DEFAULT_VIRTIOFSD, ensureGuestImage, runGuest } from "../guest/mod.ts";
import { qemuValue } from "../guest/qemu.ts";
import { isSocket } from "../guest/run.ts";
import { DEFAULT_FSBENCH, median, METRICS } from "./guest_bench.ts";
import { processTreeCpu } from "./_proc.ts";

/** One virtio-fs device of the guest. */
interface Device {
  /** Row label and mount tag. */
  label: string;
  /** The vhost-user socket. */
  socket: string;
  /** The back-end process. */
  proc?: Deno.ChildProcess;
  /** What it has written to stderr so far. */
  stderr: string[];
  /** CPU seconds its process tree had used when its last fsbench run ended. */
  cpuMark?: number;
}

/** The label prefix of the warm-up rounds' fsbench outputs. */
const WARMUP = "warmup:";

/** The rows compared: ringside's, each over virtiofsd's at the same caching. */
const PAIRS: [label: string, base: string][] = [
  ["ringside-auto", "vfs-auto"],
  ["ringside-never", "vfs-none"],
];

/** One ratio statistic of a pair: over the rounds where both rows gave the metric. */
export interface PairMetric {
  /** Median of the per-round ratios (row / base). */
  median: number;
  low: number;
  high: number;
  /** Rounds where the row was at least as fast as its base. */
  won: number;
  rounds: number;
}

/** One row's ratios to its base, by fsbench metric key (metrics neither gave are absent). */
export interface PairReport {
  pair: string;
  metrics: Record<string, PairMetric>;
}

/**
 * The per-round ratios of each pair from fsbench's outputs in the order they
 * came: a label's n-th output is its run of round n.
 */
export function pairRatios(
  runs: Record<string, number | string>[],
  pairs: [label: string, base: string][] = PAIRS,
): PairReport[] {
  const byLabel = new Map<string, Record<string, number | string>[]>();
  for (const o of runs) {
    const l = String(o.label);
    if (!byLabel.has(l)) byLabel.set(l, []);
    byLabel.get(l)!.push(o);
  }
  return pairs.map(([label, baseLabel]) => {
    const a = byLabel.get(label) ?? [];
    const b = byLabel.get(baseLabel) ?? [];
    const metrics: Record<string, PairMetric> = {};
    for (const [k] of METRICS) {
      const ratios: number[] = [];
      for (let i = 0; i < Math.min(a.length, b.length); i++) {
        const x = Number(a[i][k]), y = Number(b[i][k]);
        if (Number.isFinite(x) && Number.isFinite(y) && y > 0) ratios.push(x / y);
      }
      if (ratios.length === 0) continue;
      metrics[k] = {
        median: median(ratios),
        low: Math.min(...ratios),
        high: Math.max(...ratios),
        won: ratios.filter((x) => x >= 1).length,
        rounds: ratios.length,
      };
    }
    return { pair: `${label} / ${baseLabel}`, metrics };
  });
}

async function waitForSocket(
  path: string,
  proc: Deno.ChildProcess,
  what: string,
  stderr: string[],
): Promise<void> {
  let exited = false;
  proc.status.then(() => (exited = true));
  for (let i = 0; i < 1000 && !exited; i++) {
    if (isSocket(path)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  const said = stderr.join("").trim().split("\n").slice(-3).join(" / ");
  throw new Error(`${what} did not create ${path}${exited ? " (it exited)" : ""}: ${said}`);
}

/** Options of {@linkcode runAbBench}. */
export interface AbBenchOptions {
  /** Rounds of fsbench on every device (default 6). */
  rounds?: number;
  /** Uncounted rounds before them, every device once each (default 1). */
  warmup?: number;
  /** fsbench's arguments (default: those of bench/guest_bench.ts). */
  fsbenchArgs?: string[];
  /** More arguments for both `ringside serve`s. */
  serveArgs?: string[];
  /**
   * More ringside rows: each variant adds `NAME-auto` and `NAME-never`
   * (`ringside serve` with these arguments and environment variables),
   * paired with virtiofsd like the default rows.
   */
  variants?: AbVariant[];
  /** Guest memory (default `2G`). */
  mem?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** A ringside configuration compared beside the default one. */
export interface AbVariant {
  name: string;
  /** Arguments for its `ringside serve`s. */
  args: string[];
  /** Environment variables for them. */
  env?: Record<string, string>;
}

/** `NAME=ARGS` as a variant: `KEY=VALUE` words (upper-case keys) are environment variables. */
export function parseVariant(spec: string): AbVariant {
  const eq = spec.indexOf("=");
  const name = eq > 0 ? spec.slice(0, eq) : "";
  if (!/^[a-z0-9][a-z0-9_.]*$/.test(name)) {
    throw new Error(`--variant ${spec}: expected NAME=ARGS, NAME in lower-case letters and digits`);
  }
  const args: string[] = [];
  const env: Record<string, string> = {};
  for (const w of spec.slice(eq + 1).split(/\s+/).filter((x) => x !== "")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(w);
    if (m) env[m[1]] = m[2];
    else args.push(w);
  }
  return { name, args, env };
}

/** What {@linkcode runAbBench} measured. */
export interface AbBenchResult {
  /** The device labels, the guest's first (its /mnt) first. */
  labels: string[];
  /** fsbench's outputs in the order the guest ran them. */
  runs: Record<string, number | string>[];
  /** The warm-up rounds' outputs (labelled like the runs), not counted in the pairs. */
  warmup: Record<string, number | string>[];
  /** Each ringside row's per-round ratios to virtiofsd's. */
  pairs: PairReport[];
  /** Wall time, s. */
  seconds: number;
  /** The guest kernel. */
  kernel: string;
}

/**
 * Starts the back-ends (four, and two per variant), boots one guest with a device each, runs
 * fsbench on each in turn for the rounds asked, and stops them again.
 * Throws when a back-end does not start or the guest fails.
 */
export async function runAbBench(options: AbBenchOptions = {}): Promise<AbBenchResult> {
  const rounds = options.rounds ?? 6;
  const warmupRounds = options.warmup ?? 1;
  const fsbenchArgs = options.fsbenchArgs ?? DEFAULT_FSBENCH;
  const serveArgs = options.serveArgs ?? [];
  const pairs = [...PAIRS];
  const log = options.log ?? (() => {});
  const image = await ensureGuestImage({ log });
  const base = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ringside-ab-" });
  const cli = new URL("../cli/main.ts", import.meta.url).pathname;
  const devices: Device[] = [];
  const started = performance.now();
  try {
    type Cmd = (socket: string, dir: string) => string[];
    const serve = (cache: string, more: string[]): Cmd => (s, d) => [
      Deno.execPath(),
      ...["run", "-A", cli, "serve", "--socket", s, "--shared-dir", d, "--cache", cache],
      ...more,
    ];
    const virtiofsd = (cache: string): Cmd => (s, d) => [
      DEFAULT_VIRTIOFSD,
      ...[`--socket-path=${s}`, "-o", `source=${d}`, "-o", `cache=${cache}`],
    ];
    const backends: [string, Cmd, Record<string, string>?][] = [
      ["ringside-auto", serve("auto", serveArgs)],
      ["ringside-never", serve("never", serveArgs)],
      ["vfs-auto", virtiofsd("auto")],
      ["vfs-none", virtiofsd("none")],
    ];
    for (const v of options.variants ?? []) {
      backends.push([`${v.name}-auto`, serve("auto", v.args), v.env]);
      backends.push([`${v.name}-never`, serve("never", v.args), v.env]);
      pairs.push([`${v.name}-auto`, "vfs-auto"], [`${v.name}-never`, "vfs-none"]);
    }
    for (const [label, cmd, env] of backends) {
      const dir = `${base}/${label}`;
      await Deno.mkdir(dir);
      const socket = `${base}/${label}.sock`;
      const [exe, ...rest] = cmd(socket, dir);
      const proc = new Deno.Command(exe, {
        args: rest,
        env,
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const device: Device = { label, socket, proc, stderr: [] };
      devices.push(device);
      (async () => {
        for await (const c of proc.stderr.pipeThrough(new TextDecoderStream())) {
          device.stderr.push(c);
        }
      })().catch(() => {});
      await waitForSocket(socket, proc, label, device.stderr);
    }
    const extra: string[] = [];
    for (const d of devices.slice(1)) {
      extra.push(
        "-chardev",
        `socket,id=${d.label},path=${qemuValue(d.socket)}`,
        "-device",
        `vhost-user-fs-pci,chardev=${d.label},tag=${d.label},queue-size=1024`,
      );
    }
    // the first device is the run's own share at /mnt; the others are mounted beside it
    const mounts = devices.slice(1).map((d) =>
      `mkdir -p /ab/${d.label} && mount -t virtiofs ${d.label} /ab/${d.label} || exit 125`
    );
    // LABEL=DIR for each device: fsbench's label and where it runs
    const entries = devices.map((d, i) => `${d.label}=${i === 0 ? "/mnt" : `/ab/${d.label}`}`);
    const args = fsbenchArgs.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    // fsbench on each LABEL=DIR of `list` (a shell word list), its label prefixed
    const each = (list: string, prefix = "") =>
      `  for e in ${list}; do fsbench -d "\${e#*=}" -l "${prefix}\${e%%=*}" ${args} || exit 1; done`;
    const shell = [
      ...mounts,
      `i=0; while [ $i -lt ${warmupRounds} ]; do`,
      each(entries.join(" "), WARMUP),
      "  i=$((i + 1))",
      "done",
      `i=0; while [ $i -lt ${rounds} ]; do`,
      `  if [ $((i % 2)) -eq 0 ]; then list="${entries.join(" ")}"; else list="${
        [...entries].reverse().join(" ")
      }"; fi`,
      each("$list"),
      "  i=$((i + 1))",
      "done",
    ].join("\n");
    const runs: Record<string, number | string>[] = [];
    const warmup: Record<string, number | string>[] = [];
    for (const d of devices) d.cpuMark = d.proc && processTreeCpu(d.proc.pid);
    let partial = "";
    let errText = "";
    const decoder = new TextDecoder();
    const errDecoder = new TextDecoder();
    const r = await runGuest({
      image,
      share: { kind: "vhost-user", socket: devices[0].socket },
      tag: devices[0].label,
      mem: options.mem ?? "2G",
      command: { shell },
      qemuArgs: extra,
      timeoutMs: (rounds + warmupRounds) * devices.length * 120_000,
      collect: false,
      onStderr: (c) => {
        errText += errDecoder.decode(c, { stream: true });
      },
      onStdout: (c) => {
        partial += decoder.decode(c, { stream: true });
        let nl;
        while ((nl = partial.indexOf("\n")) >= 0) {
          const line = partial.slice(0, nl).trim();
          partial = partial.slice(nl + 1);
          if (!line.startsWith("{")) continue;
          const o = JSON.parse(line);
          const warm = String(o.label).startsWith(WARMUP);
          if (warm) o.label = String(o.label).slice(WARMUP.length);
          // the CPU its back-end used since its previous run (idle between)
          const d = devices.find((d) => d.label === o.label);
          const cpu = d?.proc && processTreeCpu(d.proc.pid);
          if (d?.cpuMark !== undefined && cpu !== undefined) {
            o.backend_cpu_s = Number((cpu - d.cpuMark).toFixed(2));
            d.cpuMark = cpu;
          }
          if (warm) {
            warmup.push(o);
            log(`warm-up: ${o.label} done`);
            continue;
          }
          runs.push(o);
          log(`round ${Math.floor((runs.length - 1) / devices.length) + 1}: ${o.label} done`);
        }
      },
    });
    if (r.code !== 0) {
      const why = r.failure ??
        (errText.trim() || r.console.trim()).split("\n").slice(-5).join(" / ");
      throw new Error(`the guest failed (status ${r.code}): ${why}`);
    }
    return {
      labels: devices.map((d) => d.label),
      runs,
      warmup,
      pairs: pairRatios(runs, pairs),
      seconds: (performance.now() - started) / 1000,
      kernel: image.kernelVersion,
    };
  } finally {
    for (const d of devices) {
      try {
        d.proc?.kill("SIGTERM");
      } catch { /* gone */ }
      await d.proc?.status;
    }
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      rounds: { type: "string", default: "6" },
      warmup: { type: "string", default: "1" },
      mem: { type: "string", default: "2G" },
      json: { type: "boolean", default: false },
      "serve-args": { type: "string", default: "" },
      variant: { type: "string", multiple: true, default: [] },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno run -A bench/guest_ab_bench.ts [--rounds N] [--warmup N] [--mem SIZE] [--json]\n" +
        "       [--serve-args='ARGS'] [--variant=NAME='ARGS']... [-- FSBENCH_ARGS...]\n" +
        "One guest, four virtio-fs devices (ringside cache=auto/never, virtiofsd cache=auto/none);\n" +
        "fsbench runs on each in turn every round; prints each ringside row's ratio to virtiofsd\n" +
        "at the same caching, round by round: median (lowest-highest) and rounds won, and the\n" +
        "CPU seconds each back-end used per fsbench run (its process tree, from /proc).\n" +
        "--warmup N: uncounted rounds first, every device once each (default 1; 0 for none):\n" +
        "  a fresh guest's first run is slow, whichever device it is on.\n" +
        "--serve-args: more arguments for both `ringside serve`s (e.g. --serve-args='--read-threads 1').\n" +
        "--variant=NAME='ARGS': two more ringside rows, NAME-auto and NAME-never, serving with ARGS\n" +
        "  (KEY=VALUE words are their environment), paired with virtiofsd like the others.",
    );
    return 0;
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds needs a whole number ≥ 1");
  const warmup = Number(values.warmup);
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error("--warmup needs a whole number ≥ 0");
  const fsbenchArgs = positionals.length > 0 ? positionals : DEFAULT_FSBENCH;
  const result = await runAbBench({
    rounds,
    warmup,
    fsbenchArgs,
    serveArgs: values["serve-args"].split(/\s+/).filter((a) => a !== ""),
    mem: values.mem,
    variants: values.variant.map(parseVariant),
    log: (l) => console.error(`guest_ab_bench: ${l}`),
  });
  if (values.json) {
    console.log(JSON.stringify({ fsbench: fsbenchArgs, rounds, ...result }));
    return 0;
  }
  const byLabel = Map.groupBy(result.runs, (o) => String(o.label));
  console.log(
    `fsbench ${fsbenchArgs.join(" ")}; ${rounds} round(s) in one guest (kernel ${result.kernel}); ${
      result.seconds.toFixed(0)
    } s, after ${warmup} uncounted warm-up round(s)\n`,
  );
  const medianOf = (label: string, k: string, digits: number) => {
    const xs = (byLabel.get(label) ?? []).map((o) => Number(o[k]));
    return xs.length === 0 || xs.some((x) => !Number.isFinite(x))
      ? "-"
      : median(xs).toFixed(digits);
  };
  console.log(table(
    ["config", ...METRICS.map(([, t]) => t), "back-end CPU s"],
    result.labels.map((label) => [
      label,
      ...METRICS.map(([k]) => medianOf(label, k, 0)),
      medianOf(label, "backend_cpu_s", 2),
    ]),
  ));
  console.log("\nratio within each round: median (lowest-highest), rounds won\n");
  console.log(table(
    ["pair", ...METRICS.map(([, t]) => t)],
    result.pairs.map(({ pair, metrics }) => [
      pair,
      ...METRICS.map(([k]) => {
        const m = metrics[k];
        return m === undefined
          ? "-"
          : `${m.median.toFixed(2)}x (${m.low.toFixed(2)}-${
            m.high.toFixed(2)
          }) ${m.won}/${m.rounds}`;
      }),
    ]),
  ));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`guest_ab_bench: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(2);
  }
}
