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
}

type Result = Record<string, string>;

function aligned(size: number): Uint8Array {
  const raw = new Uint8Array(size + 4096);
  const addr = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(raw)));
  const skip = Number((4096n - (addr % 4096n)) % 4096n);
  return raw.subarray(skip, skip + size);
}

function k(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0);
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
  r["create+stat+unlink ops/s"] = k((3 * o.files) / s);
  fs.unlinkat(AT, `${dir}/meta`, { flags: fs.AT_REMOVEDIR });
}

function stats(dir: string, o: Options, r: Result): void {
  const path = `${dir}/stat-me`;
  fs.close(fs.openat(fs.AT_FDCWD, path, { flags: fs.O_WRONLY | fs.O_CREAT, mode: 0o644 }));
  const t0 = performance.now();
  for (let i = 0; i < o.stats; i++) fs.statx(fs.AT_FDCWD, path);
  r["stat/s, attr timeout 0"] = k(o.stats / ((performance.now() - t0) / 1000));
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
  r["seq write MB/s"] = `${((o.mib * 1.048576) / ws).toFixed(0)}${
    direct ? "" : " (buffered+fsync: O_DIRECT failed)"
  }`;

  dropCaches();
  const rd = fs.openat(fs.AT_FDCWD, path, { flags: fs.O_RDONLY });
  const t2 = performance.now();
  for (let i = 0; i < blocks; i++) fs.pread(rd, block, i * block.length);
  const rs = (performance.now() - t2) / 1000;
  r["cold seq read MB/s"] = ((o.mib * 1.048576) / rs).toFixed(0);

  const small = new Uint8Array(4096);
  const pages = (o.mib * 1024 * 1024) / 4096;
  let seed = 12345;
  const t3 = performance.now();
  for (let i = 0; i < o.reads; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    fs.pread(rd, small, (seed % pages) * 4096);
  }
  r["random 4 KiB reads/s"] = k(o.reads / ((performance.now() - t3) / 1000));
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
    },
  });
  const o: Options = {
    files: Number(values.files),
    stats: Number(values.stats),
    mib: Number(values.mib),
    reads: Number(values.reads),
    settle: Number(values.settle),
  };
  const base = Deno.makeTempDirSync({ prefix: "ringside-mount-bench-", dir: values.dir });
  const plain: Result = {};
  const auto: Result = {};
  const never: Result = {};
  try {
    const pdir = `${base}/plain`;
    Deno.mkdirSync(pdir);
    metadata(pdir, o, plain);
    stats(pdir, o, plain);
    sequential(pdir, o, plain);
    await onMount(base, "auto", (d) => {
      metadata(d, o, auto);
      sequential(d, o, auto);
    });
    await onMount(base, "never", (d) => {
      metadata(d, o, never);
      stats(d, o, never);
      sequential(d, o, never);
    });
  } finally {
    Deno.removeSync(base, { recursive: true });
  }
  const cols = ["workload", "plain dir", "ringside auto", "ringside never", "passthrough_hp (ref)"];
  const rows = Object.keys(REFERENCE).map((key) => [
    key,
    plain[key] ?? "-",
    auto[key] ?? "-",
    never[key] ?? "-",
    REFERENCE[key],
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(
    `mount bench: ${o.files} files, ${o.stats} stats, ${o.mib} MiB in 128 KiB blocks, ` +
      `${o.reads} random 4 KiB reads; file system of ${base}`,
  );
  console.log(line(cols));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}

if (import.meta.main) await main();
