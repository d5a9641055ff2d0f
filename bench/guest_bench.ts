/**
 * In-guest file-system benchmark: runs guest/fsbench.c inside a throw-away
 * guest through several sharing backends and prints a table of medians and
 * each row's ratio to a baseline row.
 *
 * ```sh
 * deno run -A bench/guest_bench.ts                       # vfs-auto, vfs-none, 9p; 3 reps
 * deno run -A bench/guest_bench.ts --vhost-user /tmp/rs.sock=ringside --reps 5
 * deno run -A bench/guest_bench.ts --configs vfs-auto,tmpfs -- -n 500 -s 64
 * ```
 *
 * Rows: `vfs-auto` / `vfs-none` (the C virtiofsd with cache=auto / cache=none,
 * started per run on the host directory), `9p` (QEMU's virtio-9p), `tmpfs` (no
 * share: the guest's own tmpfs), and one row per `--vhost-user SOCKET[=LABEL]`
 * (a backend that is already listening and serves guest after guest, such as
 * `ringside serve`; it serves its own directory). The host directory defaults
 * to a fresh one on /dev/shm so the figures measure the transport, not a disk.
 * Under `deno bench` this file registers nothing (it is a script).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { markdownTable as table } from "./_table.ts";
import { ensureGuestImage, type GuestShare, runGuest } from "../guest/mod.ts";

/** The fsbench metrics shown, with their column titles. */
export const METRICS: [key: string, title: string][] = [
  ["create_per_s", "create/s"],
  ["stat_per_s", "stat/s"],
  ["readdir_entries_per_s", "readdir ent/s"],
  ["unlink_per_s", "unlink/s"],
  ["write_mib_per_s", "write MiB/s"],
  ["read_mib_per_s", "read MiB/s"],
  ["randread_4k_per_s", "4k rand IOPS"],
];

/** fsbench's arguments when none are given. */
export const DEFAULT_FSBENCH = ["-n", "2000", "-s", "256", "-b", "1024", "-r", "20000"];

interface Row {
  label: string;
  share: (hostDir: string) => GuestShare;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function rowsFor(configs: string[], vhostUser: string[]): Row[] {
  const rows: Row[] = [];
  for (const c of configs) {
    switch (c) {
      case "vfs-auto":
        rows.push({ label: c, share: (dir) => ({ kind: "virtiofsd", dir, cache: "auto" }) });
        break;
      case "vfs-none":
        rows.push({ label: c, share: (dir) => ({ kind: "virtiofsd", dir, cache: "none" }) });
        break;
      case "9p":
        rows.push({ label: c, share: (dir) => ({ kind: "9p", dir }) });
        break;
      case "tmpfs":
        rows.push({ label: c, share: () => ({ kind: "none" }) });
        break;
      default:
        throw new Error(`unknown config ${c} (vfs-auto, vfs-none, 9p, tmpfs)`);
    }
  }
  for (const spec of vhostUser) {
    const eq = spec.indexOf("=");
    const socket = eq >= 0 ? spec.slice(0, eq) : spec;
    const label = eq >= 0 ? spec.slice(eq + 1) : "vhost-user";
    rows.push({ label, share: () => ({ kind: "vhost-user", socket }) });
  }
  return rows;
}

async function benchMain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      reps: { type: "string", default: "3" },
      configs: { type: "string", default: "vfs-auto,vfs-none,9p" },
      "vhost-user": { type: "string", multiple: true, default: [] },
      hostdir: { type: "string" },
      baseline: { type: "string", default: "vfs-auto" },
      out: { type: "string" },
      mem: { type: "string", default: "1G" },
      pair: { type: "string", multiple: true, default: [] },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno run -A bench/guest_bench.ts [--reps N] [--configs vfs-auto,vfs-none,9p,tmpfs]\n" +
        "       [--vhost-user SOCKET[=LABEL]]... [--hostdir DIR] [--baseline LABEL] [--out FILE.jsonl]\n" +
        "       [--mem SIZE] [--pair LABEL/BASE]... [-- FSBENCH_ARGS...]\n" +
        "--pair LABEL/BASE: also print LABEL's ratio to BASE within each rep (rows of a rep run\n" +
        "back to back, so each ratio shares the host's state): median and range over the reps",
    );
    return 0;
  }
  const reps = Number(values.reps);
  const configs = values.configs.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const rows = rowsFor(configs, values["vhost-user"]);
  const pairs: { label: string; base: string }[] = [];
  for (const p of values.pair) {
    const [label, base, extra] = p.split("/");
    if (extra !== undefined || base === undefined) {
      throw new Error(`--pair ${p}: expected LABEL/BASE`);
    }
    const runs = (l: string) => rows.some((r) => r.label === l);
    // a pair whose rows this run leaves out (--configs) is skipped, said once
    if (runs(label) && runs(base)) pairs.push({ label, base });
    else console.error(`guest_bench: --pair ${p}: not both rows run here, skipped`);
  }
  const fsbenchArgs = positionals.length > 0 ? positionals : DEFAULT_FSBENCH;
  const ownDir = values.hostdir === undefined;
  const hostDir = values.hostdir ??
    await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ringside-guest-bench-" });
  const image = await ensureGuestImage({ log: (l) => console.error(`guest_bench: ${l}`) });
  const results = new Map<string, Record<string, number>[]>(rows.map((r) => [r.label, []]));
  /** Per row, each rep's result (undefined where the run failed), for --pair. */
  const byRep = new Map<string, (Record<string, number> | undefined)[]>(
    rows.map((r) => [r.label, []]),
  );
  const out = values.out !== undefined
    ? await Deno.open(values.out, { write: true, create: true, truncate: true })
    : undefined;
  const started = performance.now();
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const row of rows) {
        const r = await runGuest({
          image,
          share: row.share(hostDir),
          mem: values.mem,
          command: ["fsbench", "-d", "/mnt", "-l", row.label, ...fsbenchArgs],
          timeoutMs: 600_000,
        });
        const text = new TextDecoder().decode(r.stdout).trim();
        if (r.code !== 0 || !text.startsWith("{")) {
          console.error(
            `guest_bench: ${row.label} rep ${rep} failed (status ${r.code}): ${r.failure ?? ""} ${
              new TextDecoder().decode(r.stderr).trim()
            }`,
          );
          byRep.get(row.label)!.push(undefined);
          continue;
        }
        results.get(row.label)!.push(JSON.parse(text));
        byRep.get(row.label)!.push(JSON.parse(text));
        await out?.write(new TextEncoder().encode(text + "\n"));
        console.error(
          `guest_bench: ${row.label} rep ${rep}: ${(r.wallMs / 1000).toFixed(1)} s (boot ${
            ((r.bootMs ?? 0) / 1000).toFixed(2)
          } s)`,
        );
      }
    }
  } finally {
    out?.close();
    if (ownDir) await Deno.remove(hostDir, { recursive: true }).catch(() => {});
  }

  const medians = new Map<string, number[]>();
  for (const [label, runs] of results) {
    if (runs.length > 0) {
      medians.set(
        label,
        METRICS.map(([k]) => median(runs.map((r) => r[k] ?? 0))),
      );
    }
  }
  console.log(
    `fsbench ${fsbenchArgs.join(" ")}; medians of ${reps} run(s); host dir ${
      ownDir ? "fresh on /dev/shm" : hostDir
    }; kernel ${image.kernelVersion}; ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
  );
  console.log(table(
    ["config", "runs", ...METRICS.map(([, t]) => t)],
    rows.map((r) => [
      r.label,
      String(results.get(r.label)!.length),
      ...(medians.get(r.label)?.map((v) => v.toFixed(0)) ?? METRICS.map(() => "-")),
    ]),
  ));
  const base = medians.get(values.baseline);
  if (base !== undefined) {
    console.log(`\nratio to ${values.baseline} (higher is better)\n`);
    console.log(table(
      ["config", ...METRICS.map(([, t]) => t)],
      rows.filter((r) => medians.has(r.label)).map((r) => [
        r.label,
        ...medians.get(r.label)!.map((
          v,
          i,
        ) => (base[i] > 0 ? `${(v / base[i]).toFixed(2)}x` : "-")),
      ]),
    ));
  }
  if (pairs.length > 0) {
    console.log(
      "\nratio within each rep: median (lowest-highest) over the reps where both ran\n",
    );
    console.log(table(
      ["pair", ...METRICS.map(([, t]) => t)],
      pairs.map(({ label, base }) => {
        const a = byRep.get(label)!;
        const b = byRep.get(base)!;
        return [
          `${label} / ${base}`,
          ...METRICS.map(([k]) => {
            const ratios: number[] = [];
            for (let i = 0; i < Math.min(a.length, b.length); i++) {
              const x = a[i]?.[k];
              const y = b[i]?.[k];
              if (x !== undefined && y !== undefined && y > 0) ratios.push(x / y);
            }
            if (ratios.length === 0) return "-";
            return `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${
              Math.max(...ratios).toFixed(2)
            })`;
          }),
        ];
      }),
    ));
  }
  return [...results.values()].every((r) => r.length === reps) ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await benchMain(Deno.args));
}
