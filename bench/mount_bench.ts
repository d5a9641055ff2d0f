/**
 * /dev/fuse mount benchmark: the same workloads on a plain directory and
 * through `ringside mount` of a directory on the same file system (served by
 * the reader Worker of this process; the workloads run on the main thread
 * with synchronous system calls), beside libfuse passthrough_hp's figures
 * measured on this machine (issue 4).
 *
 * ```sh
 * deno run -A bench/mount_bench.ts                 # all workloads
 * deno run -A bench/mount_bench.ts --files 2000 --mib 64 --reads 5000
 * deno run -A bench/mount_bench.ts --dir /dev/shm   # on tmpfs (default /var/tmp)
 * # an already mounted file system (started by hand, e.g. libfuse's
 * # passthrough_hp /var/tmp/src /var/tmp/mnt --nocache) as its own column:
 * deno run -A bench/mount_bench.ts --external-mount /var/tmp/mnt --label hp-nocache \
 *   --columns external --workloads meta,stat --json
 * ```
 *
 * Workloads: create (open O_CREAT|O_EXCL + close), stat and unlink of N files
 * (ops/s over the 3·N operations); stat of one file with attribute timeout 0
 * (the `cache never` mount; every stat is a GETATTR); sequential write of a
 * file in 128 KiB blocks with O_DIRECT (falls back to buffered writes + fsync
 * and says so when O_DIRECT fails); cold sequential read (page cache dropped)
 * in 128 KiB blocks; random 4 KiB reads. Needs root and /dev/fuse. Under
 * `deno bench` this file registers nothing (it is a script).
 *
 * `--columns` picks among `plain`, `auto`, `never` and `external` (default:
 * the first three, plus `external` when `--external-mount` is given) and
 * `--workloads` among `meta`, `stat` and `seq` (default all), so that runs of
 * different servers can alternate as separate processes; `--json` prints the
 * figures as one JSON object (`{column: {workload: number}}`) after the table.
 * The bench only uses the external mount's directory (in a temporary
 * subdirectory it removes): how that mount was started, and so which caching
 * its rows measure, is the caller's business and belongs in `--label`.
 *
 * On an ext4 without a journal (this machine's root) creating a file gets
 * slower for minutes after many files were deleted nearby (ext4 skips
 * recently freed inodes, one block lookup each), so the create workload of a
 * later run or column can be penalised by an earlier one: compare with
 * `--dir /dev/shm` for the cost of ringside itself, or give `--settle 65`
 * (seconds to wait before each later create workload; ext4 counts a freed
 * inode as recent for 60 s).
 *
 * @module
 */
import { parseArgs } from "node:util";
import * as fs from "../sys/fs.ts";
import { SysError } from "../sys/libc.ts";
import { mountDevFuse, passthroughSpec } from "../transports/mod.ts";

const REFERENCE: Record<string, string> = {
  "create+stat+unlink ops/s": "42.7k (ext4 107.7k)",
  "stat/s, attr timeout 0": "56.9k",
  "seq write MB/s": "5800 (O_DIRECT)",
  "cold seq read MB/s": "2000",
  "random 4 KiB reads/s": "-",
};

interface Options {
  files: number;
  stats: number;
  mib: number;
  reads: number;
  settle: number;
  workloads: Set<string>;
}

/** Figures per workload, as numbers, with a note for the table where one applies. */
type Result = Record<string, { value: number; note?: string }>;

function aligned(size: number): Uint8Array {
  const raw = new Uint8Array(size + 4096);
  const addr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(raw)));
  const skip = Number((4096n - (addr % 4096n)) % 4096n);
  return raw.subarray(skip, skip + size);
}

function k(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
}

const MBS = new Set(["seq write MB/s", "cold seq read MB/s"]);

function cell(r: Result, key: string): string {
  const f = r[key];
  if (f === undefined) return "-";
  return (MBS.has(key) ? f.value.toFixed(0) : k(f.value)) + (f.note ? ` (${f.note})` : "");
}

let settled = 0;

function dropCaches(): void {
  try {
    Deno.writeTextFileSync("/proc/sys/vm/drop_caches", "3");
  } catch {
    // not root or not allowed: the read is then warm, and labelled so below
  }
}

function metadata(dir: string, o: Options, r: Result): void {
  if (o.settle > 0 && settled++ > 0) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, o.settle * 1000);
  }
  const AT = fs.AT_FDCWD;
  fs.mkdirat(AT, `${dir}/meta`, { mode: 0o755 });
  const names = Array.from({ length: o.files }, (_, i) => `${dir}/meta/f${i}`);
  const t0 = performance.now();
  for (const n of names) {
    fs.close(fs.openat(AT, n, { flags: fs.O_WRONLY | fs.O_CREAT | fs.O_EXCL, mode: 0o644 }));
  }
  for (const n of names) fs.statx(AT, n);
  for (const n of names) fs.unlinkat(AT, n);
  const s = (performance.now() - t0) / 1000;
  r["create+stat+unlink ops/s"] = { value: (3 * o.files) / s };
  fs.unlinkat(AT, `${dir}/meta`, { flags: fs.AT_REMOVEDIR });
}

function stats(dir: string, o: Options, r: Result): void {
  const path = `${dir}/stat-me`;
  fs.close(fs.openat(fs.AT_FDCWD, path, { flags: fs.O_WRONLY | fs.O_CREAT, mode: 0o644 }));
  const t0 = performance.now();
  for (let i = 0; i < o.stats; i++) fs.statx(fs.AT_FDCWD, path);
  r["stat/s, attr timeout 0"] = { value: o.stats / ((performance.now() - t0) / 1000) };
}

function sequential(dir: string, o: Options, r: Result): void {
  const path = `${dir}/seq`;
  const block = aligned(128 * 1024);
  block.fill(0x5a);
  const blocks = (o.mib * 1024 * 1024) / block.length;
  let direct = true;
  let fd = fs.openat(fs.AT_FDCWD, path, {
    flags: fs.O_WRONLY | fs.O_CREAT | fs.O_TRUNC | fs.O_DIRECT,
    mode: 0o644,
  });
  const t0 = performance.now();
  try {
    fs.pwrite(fd, block, 0);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    direct = false;
    fs.close(fd);
    fd = fs.openat(fs.AT_FDCWD, path, { flags: fs.O_WRONLY | fs.O_TRUNC });
  }
  const start = direct ? 1 : 0;
  const t1 = direct ? t0 : performance.now();
  for (let i = start; i < blocks; i++) fs.pwrite(fd, block, i * block.length);
  fs.fsync(fd);
  fs.close(fd);
  const ws = (performance.now() - t1) / 1000;
  r["seq write MB/s"] = {
    value: (o.mib * 1.048576) / ws,
    note: direct ? undefined : "buffered+fsync: O_DIRECT failed",
  };

  dropCaches();
  const rd = fs.openat(fs.AT_FDCWD, path, { flags: fs.O_RDONLY });
  const t2 = performance.now();
  for (let i = 0; i < blocks; i++) fs.pread(rd, block, i * block.length);
  const rs = (performance.now() - t2) / 1000;
  r["cold seq read MB/s"] = { value: (o.mib * 1.048576) / rs };

  const small = new Uint8Array(4096);
  const pages = (o.mib * 1024 * 1024) / 4096;
  let seed = 12345;
  const t3 = performance.now();
  for (let i = 0; i < o.reads; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    fs.pread(rd, small, (seed % pages) * 4096);
  }
  r["random 4 KiB reads/s"] = { value: o.reads / ((performance.now() - t3) / 1000) };
  fs.close(rd);
  fs.unlinkat(fs.AT_FDCWD, path);
}

async function onMount(
  base: string,
  cache: "auto" | "never",
  run: (dir: string) => void,
): Promise<void> {
  const shared = `${base}/shared-${cache}`;
  const mnt = `${base}/mnt-${cache}`;
  Deno.mkdirSync(shared);
  Deno.mkdirSync(mnt);
  const m = await mountDevFuse(mnt, passthroughSpec(shared, { cache }), { log: console.error });
  try {
    run(mnt);
  } finally {
    await m.unmount();
  }
}

function runWorkloads(dir: string, o: Options, r: Result, withStat: boolean): void {
  if (o.workloads.has("meta")) metadata(dir, o, r);
  if (withStat && o.workloads.has("stat")) stats(dir, o, r);
  if (o.workloads.has("seq")) sequential(dir, o, r);
}

function list(value: string, known: string[], what: string): Set<string> {
  const items = new Set(value.split(",").filter((x) => x !== ""));
  for (const x of items) {
    if (!known.includes(x)) throw new Error(`unknown ${what} ${x} (known: ${known.join(", ")})`);
  }
  return items;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      files: { type: "string", default: "10000" },
      stats: { type: "string", default: "50000" },
      mib: { type: "string", default: "256" },
      reads: { type: "string", default: "20000" },
      dir: { type: "string", default: "/var/tmp" },
      settle: { type: "string", default: "0" },
      "external-mount": { type: "string" },
      label: { type: "string", default: "external" },
      columns: { type: "string" },
      workloads: { type: "string", default: "meta,stat,seq" },
      json: { type: "boolean", default: false },
    },
  });
  const external = values["external-mount"];
  const columns = list(
    values.columns ?? (external === undefined ? "plain,auto,never" : "plain,auto,never,external"),
    ["plain", "auto", "never", "external"],
    "column",
  );
  if (columns.has("external") && external === undefined) {
    throw new Error("--columns external needs --external-mount DIR");
  }
  const o: Options = {
    files: Number(values.files),
    stats: Number(values.stats),
    mib: Number(values.mib),
    reads: Number(values.reads),
    settle: Number(values.settle),
    workloads: list(values.workloads, ["meta", "stat", "seq"], "workload"),
  };
  const base = Deno.makeTempDirSync({ prefix: "ringside-mount-bench-", dir: values.dir });
  const results: [string, Result][] = [];
  const column = (name: string): Result => {
    const r: Result = {};
    results.push([name, r]);
    return r;
  };
  let extBase: string | undefined;
  try {
    if (columns.has("plain")) {
      const pdir = `${base}/plain`;
      Deno.mkdirSync(pdir);
      runWorkloads(pdir, o, column("plain dir"), true);
    }
    if (columns.has("auto")) {
      const r = column("ringside auto");
      await onMount(base, "auto", (d) => runWorkloads(d, o, r, false));
    }
    if (columns.has("never")) {
      const r = column("ringside never");
      await onMount(base, "never", (d) => runWorkloads(d, o, r, true));
    }
    if (columns.has("external") && external !== undefined) {
      extBase = Deno.makeTempDirSync({ prefix: "ringside-mount-bench-", dir: external });
      runWorkloads(extBase, o, column(values.label), true);
    }
  } finally {
    Deno.removeSync(base, { recursive: true });
    if (extBase !== undefined) Deno.removeSync(extBase, { recursive: true });
  }
  const cols = ["workload", ...results.map(([name]) => name), "passthrough_hp (ref)"];
  const rows = Object.keys(REFERENCE).map((key) => [
    key,
    ...results.map(([, r]) => cell(r, key)),
    REFERENCE[key],
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(
    `mount bench: ${o.files} files, ${o.stats} stats, ${o.mib} MiB in 128 KiB blocks, ` +
      `${o.reads} random 4 KiB reads; file system of ${base}` +
      (extBase === undefined ? "" : `; ${values.label}: ${extBase}`),
  );
  console.log(line(cols));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
  if (values.json) {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, r] of results) {
      out[name] = Object.fromEntries(Object.entries(r).map(([key, f]) => [key, f.value]));
    }
    console.log(JSON.stringify(out));
  }
}

if (import.meta.main) await main();
