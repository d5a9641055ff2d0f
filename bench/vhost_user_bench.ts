/**
 * Guest-free back-end benchmark: ringside's test front-end
 * (transports/vhost_user/frontend.ts) drives a vhost-user-fs back-end through
 * real rings in shared memory and eventfds, and measures FUSE GETATTR, 4 KiB
 * READ and 4 KiB WRITE rates at queue depth 1 and 16, and 1 MiB WRITE and READ
 * in 4 KiB pages (258 descriptors, as a Linux guest sends them with
 * cache=none) at depth 1, and metadata at depth 1 as a cache=never guest
 * sends it for fsbench's phases (LOOKUP, LOOKUP+GETATTR for a stat, a
 * negative LOOKUP, create+close+unlink as its six requests, and a listing of
 * a 2,000-file directory a page per READDIR), against `ringside serve` and
 * the C virtiofsd (cache=none, source directory on /dev/shm), side by side.
 * Every reply's error is checked, and each listing's entry count. Each row
 * gives p50 and p99 latency beside its rate: on this VM host requests of
 * every back-end now and then stall for 3-5 ms (the C virtiofsd's 1 MiB
 * READs too, p99 3.4 ms), so a row whose rate falls while its p50 holds
 * lost to those stalls, not to a slower path.
 *
 * ```sh
 * deno run -A bench/vhost_user_bench.ts                # both back-ends, 2 s per row
 * deno run -A bench/vhost_user_bench.ts --seconds 5 --targets ringside
 * deno run -A bench/vhost_user_bench.ts --targets ringside-record,ringside --rounds 3
 * ```
 *
 * Each back-end runs as its own process (`ringside serve` through cli/main.ts;
 * /usr/lib/qemu/virtiofsd serves one connection and exits). Under `deno bench`
 * this file registers nothing (it is a script).
 *
 * @module
 */
import { markdownTable } from "./_table.ts";
import { quantile } from "./_stats.ts";
import { processCpu, processTreeCpu } from "./_proc.ts";
import { parseArgs } from "node:util";
import {
  type FrontendQueue,
  guestReplySizes,
  guestRequestParts,
  VhostUserFrontend,
} from "../transports/vhost_user/frontend.ts";
import { decodeReply, encodeRequest, type OpName } from "../codecs/fuse/mod.ts";

const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
const FILE_SIZE = 4 << 20;
/** The directory of the metadata rows, and how many empty files it holds (fsbench's -n). */
const META_DIR = "m";
const META_FILES = 2000;
const metaName = (i: number) => `f${String(i).padStart(5, "0")}`;
/** The large rows' request size. */
const BIG = 1 << 20;

interface Target {
  label: string;
  start(socket: string, dir: string): Deno.ChildProcess;
}

function ringside(socket: string, dir: string, extra: string[] = []): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      // RINGSIDE_BENCH_DENO_FLAGS: extra flags for the back-end (`--cpu-prof-dir=/tmp/prof`)
      ...(Deno.env.get("RINGSIDE_BENCH_DENO_FLAGS") ?? "").split(" ").filter((f) => f !== ""),
      new URL("../cli/main.ts", import.meta.url).pathname,
      "serve",
      "--socket",
      socket,
      "--shared-dir",
      dir,
      "--cache",
      "never",
      ...(backendPollUs !== undefined ? ["--poll-us", backendPollUs] : []),
      ...extra,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

const TARGETS: Record<string, Target> = {
  ringside: { label: "ringside", start: (socket, dir) => ringside(socket, dir) },
  "ringside-record": {
    label: "ringside-record",
    // the capture in --capture-dir (default /var/tmp: a disk, where recording uses O_DIRECT)
    start: (socket, dir) => ringside(socket, dir, ["--record", capturePath(dir)]),
  },
  virtiofsd: {
    label: "virtiofsd",
    start: (socket, dir) =>
      new Deno.Command(VIRTIOFSD, {
        args: [`--socket-path=${socket}`, "-o", `source=${dir}`, "-o", "cache=none"],
        stdout: "null",
        stderr: "piped",
      }).spawn(),
  },
};

/** Where the ringside-record target writes its capture (`--capture-dir`). */
let captureDir = "/var/tmp";
/** `--only REGEX`: the rows to run (default all), e.g. `--only "READ.*qd1"`. */
let onlyRows: RegExp | undefined;

function capturePath(dir: string): string {
  return `${captureDir}/${dir.slice(dir.lastIndexOf("/") + 1)}.capture.pcapng`;
}

/** `--poll-us` for `ringside serve` (`--backend-poll-us`; default: the back-end's own). */
let backendPollUs: string | undefined;

/** The front-end watches the used ring this long before sleeping (`--spin-us`, default 50). */
let frontendSpinUs = 50;

interface Row {
  name: string;
  opsPerSec: number;
  p50us: number;
  /** 99th percentile latency: a row whose rate falls while its p50 holds was hit by stalls. */
  p99us: number;
  /** CPU seconds per second of the back-end process (all its threads) during the row. */
  backendCpu?: number;
  /** CPU seconds per second of this process (the front-end) during the row. */
  frontendCpu?: number;
}

/** Runs `fn` and adds the CPU both processes used per second of wall time. */
function withCpu(pid: number, fn: () => Omit<Row, "name">): Omit<Row, "name"> {
  const b0 = processTreeCpu(pid);
  const f0 = processCpu(Deno.pid);
  const t0 = performance.now();
  const r = fn();
  const wall = (performance.now() - t0) / 1000;
  const b1 = processTreeCpu(pid);
  const f1 = processCpu(Deno.pid);
  return {
    ...r,
    backendCpu: b0 !== undefined && b1 !== undefined ? (b1 - b0) / wall : undefined,
    frontendCpu: (f1 - f0) / wall,
  };
}

function fuse(op: OpName, nodeid: bigint, body: unknown): Uint8Array {
  return encodeRequest({ op, header: { unique: 1n, nodeid, pid: 1 }, body } as never);
}

async function call(q: FrontendQueue, req: Uint8Array, replySize: number) {
  const used = await q.roundTripAsync(req, replySize);
  return used.written;
}

/** The median and 99th percentile of sorted latencies (ms), in µs. */
function quantiles(sorted: number[]): { p50us: number; p99us: number } {
  return { p50us: quantile(sorted, 0.5) * 1000, p99us: quantile(sorted, 0.99) * 1000 };
}

/** Runs `make()` requests for `seconds` keeping `depth` in flight; returns the rate and latencies. */
function measure(
  q: FrontendQueue,
  depth: number,
  seconds: number,
  make: (i: number) => Uint8Array | Uint8Array[],
  replySize: number | readonly number[],
): { opsPerSec: number; p50us: number; p99us: number } {
  const started = new Map<number, number>();
  const lat: number[] = [];
  let i = 0;
  let done = 0;
  const submit = () => {
    const req = make(i++);
    const at = performance.now();
    const t = q.submit(req, replySize);
    if (t === null) throw new Error("ring full");
    started.set(t, at);
  };
  // warm up
  for (let k = 0; k < 200; k++) {
    q.submit(make(i++), replySize);
    q.waitUsed(5000);
  }
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  for (let k = 0; k < depth; k++) submit();
  for (;;) {
    const used = q.waitUsed(5000, { spinMicroseconds: frontendSpinUs });
    if (used.length === 0) throw new Error("no answer within 5 s");
    const now = performance.now();
    for (const u of used) {
      if (u.len < 16) throw new Error(`short reply (${u.len} bytes)`);
      lat.push(now - started.get(u.token)!);
      started.delete(u.token);
      done++;
    }
    if (now >= end) break;
    for (let k = 0; k < used.length; k++) submit();
  }
  // collect the stragglers
  while (started.size > 0) {
    for (const u of q.waitUsed(5000)) started.delete(u.token);
  }
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { opsPerSec: done / elapsed, ...quantiles(lat) };
}

async function runTarget(target: Target, dir: string, seconds: number): Promise<Row[]> {
  const socket = `${dir}.${target.label}.sock`;
  const child = target.start(socket, dir);
  const fe = await VhostUserFrontend.connect(socket, { timeoutMs: 15000 });
  try {
    // 512 entries: a 1 MiB request in pages is 258 descriptors, like a Linux guest's
    const dev = await fe.setUp({ queues: 2, queueSize: 512, memorySize: 32 << 20 });
    const q = dev.queues[1];
    const init = await call(
      q,
      fuse("INIT", 0n, {
        major: 7,
        minor: 31,
        max_readahead: 131072,
        // FUSE_MAX_PAGES, as Linux asks: virtiofsd then takes 1 MiB requests, not 128 KiB
        flags: 1 << 22,
        flags2: 0,
      }),
      4096,
    );
    const initReply = decodeReply(init, { opcode: "INIT" });
    if (initReply.header.error !== 0) throw new Error(`INIT failed: ${initReply.header.error}`);
    const look = decodeReply(await call(q, fuse("LOOKUP", 1n, { name: "data" }), 4096), {
      opcode: "LOOKUP",
    });
    if (look.header.error !== 0 || look.op !== "LOOKUP") throw new Error("LOOKUP data failed");
    const nodeid = (look.body as { nodeid: bigint }).nodeid;
    const open = decodeReply(
      await call(q, fuse("OPEN", nodeid, { flags: 2, open_flags: 0 }), 4096),
      { opcode: "OPEN" },
    );
    if (open.header.error !== 0) throw new Error(`OPEN failed: ${open.header.error}`);
    const fh = (open.body as { fh: bigint }).fh;

    let unique = 100n;
    const withUnique = (b: Uint8Array) => {
      new DataView(b.buffer, b.byteOffset).setBigUint64(8, unique++, true);
      return b;
    };
    const getattr = fuse("GETATTR", nodeid, { getattr_flags: 0, dummy: 0, fh: 0n });
    const blocks = FILE_SIZE / 4096;
    const readReq = (i: number) =>
      fuse("READ", nodeid, {
        fh,
        offset: BigInt(((i * 7919) % blocks) * 4096),
        size: 4096,
        read_flags: 0,
        lock_owner: 0n,
        flags: 0,
        padding: 0,
      });
    const payload = new Uint8Array(4096).fill(0x5a);
    const writeReq = (i: number) =>
      encodeRequest({
        op: "WRITE",
        header: { unique: 1n, nodeid, pid: 1 },
        body: {
          fh,
          offset: BigInt(((i * 7919) % blocks) * 4096),
          size: 4096,
          write_flags: 0,
          lock_owner: 0n,
          flags: 0,
          padding: 0,
          data: payload,
        },
      } as never);
    // 1 MiB in 4 KiB pages, one descriptor each, as a Linux guest sends a
    // cache=none write or read (an indirect table of 258 entries); the WRITE
    // is encoded once and its offset set per request
    const bigBlocks = FILE_SIZE / BIG;
    const bigWriteReq = encodeRequest({
      op: "WRITE",
      header: { unique: 1n, nodeid, pid: 1 },
      body: {
        fh,
        offset: 0n,
        size: BIG,
        write_flags: 0,
        lock_owner: 0n,
        flags: 0,
        padding: 0,
        data: new Uint8Array(BIG).fill(0x3c),
      },
    } as never);
    const bigWrite = (i: number) => {
      // fuse_write_in.offset
      new DataView(bigWriteReq.buffer, bigWriteReq.byteOffset)
        .setBigUint64(48, BigInt((i % bigBlocks) * BIG), true);
      return guestRequestParts(withUnique(bigWriteReq), 40);
    };
    const bigRead = (i: number) =>
      guestRequestParts(
        withUnique(fuse("READ", nodeid, {
          fh,
          offset: BigInt((i % bigBlocks) * BIG),
          size: BIG,
          read_flags: 0,
          lock_owner: 0n,
          flags: 0,
          padding: 0,
        })),
        40,
      );
    const bigReadReply = guestReplySizes(BIG);
    const rows: Row[] = [];
    const pid = child.pid;
    const row = (name: string, run: () => ReturnType<typeof measure>) => {
      if (onlyRows === undefined || onlyRows.test(name)) rows.push({ name, ...withCpu(pid, run) });
    };
    for (const depth of [1, 16]) {
      row(
        `GETATTR qd${depth}`,
        () => measure(q, depth, seconds, () => withUnique(getattr.slice()), 256),
      );
      row(
        `READ 4k qd${depth}`,
        () => measure(q, depth, seconds, (i) => withUnique(readReq(i)), 16 + 4096),
      );
      row(
        `WRITE 4k qd${depth}`,
        () => measure(q, depth, seconds, (i) => withUnique(writeReq(i)), 64),
      );
    }
    row("WRITE 1M qd1", () => measure(q, 1, seconds, bigWrite, 64));
    row("READ 1M qd1", () => measure(q, 1, seconds, bigRead, bigReadReply));
    /** A row of `op`s run one after another for `secs` (each may send several requests). */
    const metaRow = (name: string, secs: number, op: (i: number) => void) =>
      row(name, () => {
        for (let k = 0; k < 50; k++) op(1_000_000 + k); // warm up
        const lat: number[] = [];
        const t0 = performance.now();
        const end = t0 + secs * 1000;
        let now = t0;
        for (let i = 0; now < end; i++) {
          const at = now;
          op(i);
          now = performance.now();
          lat.push(now - at);
        }
        lat.sort((a, b) => a - b);
        return { opsPerSec: lat.length / ((now - t0) / 1000), ...quantiles(lat) };
      });
    // metadata at queue depth 1, each operation the requests a cache=never
    // Linux guest sends for it (bench/guest_ab_bench.ts's fsbench phases)
    const dirEntry = decodeReply(await call(q, fuse("LOOKUP", 1n, { name: META_DIR }), 4096), {
      opcode: "LOOKUP",
    });
    if (dirEntry.header.error !== 0 || dirEntry.op !== "LOOKUP") {
      throw new Error(`LOOKUP ${META_DIR} failed`);
    }
    const mdir = (dirEntry.body as { nodeid: bigint }).nodeid;
    const rt = (req: Uint8Array, replySize: number, want: number | null = 0): Uint8Array => {
      const token = q.submit(withUnique(req), replySize);
      if (token === null) throw new Error("ring full");
      const used = q.waitUsed(5000, { spinMicroseconds: frontendSpinUs });
      if (used.length !== 1 || used[0].token !== token) {
        throw new Error("no single answer within 5 s");
      }
      const w = used[0].written;
      if (want !== null) {
        const error = w.length >= 16 ? new DataView(w.buffer, w.byteOffset).getInt32(4, true) : 0;
        if (error !== want) throw new Error(`reply error ${error}, expected ${want}`);
      }
      return w;
    };
    const u64 = (b: Uint8Array, at: number) =>
      new DataView(b.buffer, b.byteOffset).getBigUint64(at, true);
    // fuse_entry_out.nodeid and fuse_open_out.fh are the first field after the 16-byte header
    const lookupNode = (name: string) => u64(rt(fuse("LOOKUP", mdir, { name }), 16 + 128), 16);
    metaRow("LOOKUP qd1", seconds, (i) => {
      lookupNode(metaName(i % META_FILES));
    });
    metaRow("LOOKUP+GETATTR qd1 (stat)", seconds, (i) => {
      const node = lookupNode(metaName(i % META_FILES));
      rt(fuse("GETATTR", node, { getattr_flags: 0, dummy: 0, fh: 0n }), 16 + 104);
    });
    metaRow("LOOKUP ENOENT qd1", seconds, (i) => {
      rt(fuse("LOOKUP", mdir, { name: `missing${i}` }), 16 + 128, -2);
    });
    // create: negative LOOKUP, CREATE, FLUSH (close), RELEASE; then UNLINK
    // and the FORGET of the created node, as the unlink phase would
    metaRow("create+unlink qd1 (6 requests)", seconds, (i) => {
      const name = `new${i}`;
      rt(fuse("LOOKUP", mdir, { name }), 16 + 128, -2);
      const created = rt(
        fuse("CREATE", mdir, {
          flags: 0o301, // O_WRONLY | O_CREAT | O_EXCL
          mode: 0o100644,
          umask: 0o022,
          open_flags: 0,
          name,
        }),
        16 + 128 + 32,
      );
      const node = u64(created, 16);
      const fh = u64(created, 16 + 128);
      rt(fuse("FLUSH", node, { fh, unused: 0, padding: 0, lock_owner: 1n }), 16);
      rt(fuse("RELEASE", node, { fh, flags: 0o301, release_flags: 0, lock_owner: 0n }), 16);
      rt(fuse("UNLINK", mdir, { name }), 16);
      rt(fuse("FORGET", node, { nlookup: 1n }), 0, null);
    });
    // one listing: OPENDIR, READDIR of a page until the empty one, RELEASEDIR
    metaRow(`readdir pass of ${META_FILES} qd1`, seconds, () => {
      const fh = u64(rt(fuse("OPENDIR", mdir, { flags: 0o200000, open_flags: 0 }), 16 + 16), 16);
      let offset = 0n;
      let seen = 0;
      for (;;) {
        const page = rt(
          fuse("READDIR", mdir, {
            fh,
            offset,
            size: 4096,
            read_flags: 0,
            lock_owner: 0n,
            flags: 0,
            padding: 0,
          }),
          16 + 4096,
        );
        if (page.length <= 16) break;
        // fuse_dirent: ino u64, off u64, namelen u32, type u32, name, padding to 8
        const v = new DataView(page.buffer, page.byteOffset, page.length);
        for (let at = 16; at + 24 <= page.length;) {
          offset = v.getBigUint64(at + 8, true);
          seen++;
          at += (24 + v.getUint32(at + 16, true) + 7) & ~7;
        }
      }
      rt(fuse("RELEASEDIR", mdir, { fh, flags: 0, release_flags: 0, lock_owner: 0n }), 16);
      if (seen !== META_FILES + 2) throw new Error(`readdir saw ${seen} of ${META_FILES + 2}`);
    });
    return rows;
  } finally {
    fe.close();
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited (virtiofsd leaves after its one front-end)
    }
    await child.status;
    await child.stderr.cancel().catch(() => {});
    // virtiofsd leaves its socket behind when it exits
    await Deno.remove(socket).catch(() => {});
  }
}

/** Removes the ringside-record target's capture and the final-state manifest `serve --record` writes beside it. */
async function removeCapture(dir: string): Promise<void> {
  for (const f of [capturePath(dir), `${capturePath(dir)}.final.json`]) {
    await Deno.remove(f).catch(() => {});
  }
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function benchMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "2" },
      targets: { type: "string", default: "ringside,virtiofsd" },
      "spin-us": { type: "string", default: "50" },
      "backend-poll-us": { type: "string" },
      "capture-dir": { type: "string", default: "/var/tmp" },
      only: { type: "string" },
      rounds: { type: "string", default: "1" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno run -A bench/vhost_user_bench.ts [--seconds S] " +
        "[--targets ringside,ringside-record,virtiofsd] [--spin-us N (front-end, default 50)] " +
        "[--backend-poll-us N (ringside serve --poll-us)] [--capture-dir DIR (default /var/tmp)] [--only REGEX (rows)] " +
        "[--rounds N (targets alternate, medians reported)]",
    );
    return 0;
  }
  const seconds = Number(values.seconds);
  const rounds = Math.max(1, Number(values.rounds));
  frontendSpinUs = Number(values["spin-us"]);
  backendPollUs = values["backend-poll-us"];
  captureDir = values["capture-dir"];
  if (values.only !== undefined) onlyRows = new RegExp(values.only);
  const names = values.targets.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const dir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ringside-vu-bench-" });
  /** Per target, per round, the rows. */
  const runs = new Map<string, Row[][]>(names.map((n) => [n, []]));
  const loads: string[] = [];
  try {
    await Deno.writeFile(`${dir}/data`, new Uint8Array(FILE_SIZE).fill(7));
    await Deno.mkdir(`${dir}/${META_DIR}`);
    for (let i = 0; i < META_FILES; i++) {
      await Deno.writeFile(`${dir}/${META_DIR}/${metaName(i)}`, new Uint8Array(0));
    }
    for (let round = 0; round < rounds; round++) {
      // alternate the order so neither target always runs first (warm caches, load drift)
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const t = TARGETS[name];
        if (t === undefined) {
          throw new Error(`unknown target ${name} (ringside, ringside-record, virtiofsd)`);
        }
        console.error(`vhost_user_bench: round ${round + 1}/${rounds}: ${name} ...`);
        runs.get(name)!.push(await runTarget(t, dir, seconds));
        await removeCapture(dir);
      }
      loads.push(Deno.loadavg()[0].toFixed(2));
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await removeCapture(dir);
  }
  // medians over the rounds, row by row
  const results = new Map<string, Row[]>();
  for (const [n, perRound] of runs) {
    results.set(
      n,
      perRound[0].map((row, i) => ({
        name: row.name,
        opsPerSec: median(perRound.map((r) => r[i].opsPerSec)),
        p50us: median(perRound.map((r) => r[i].p50us)),
        p99us: median(perRound.map((r) => r[i].p99us)),
        backendCpu: median(perRound.map((r) => r[i].backendCpu ?? NaN)),
        frontendCpu: median(perRound.map((r) => r[i].frontendCpu ?? NaN)),
      })),
    );
  }
  const first = results.values().next().value as Row[];
  const header = [
    "op",
    ...names.flatMap((n) => [`${n} ops/s`, `${n} p50 µs`, `${n} p99 µs`, `${n} cpu`]),
    "front-end cpu",
  ];
  // every target against the last one named (virtiofsd by default)
  const base = names[names.length - 1];
  for (const n of names.slice(0, -1)) header.push(`${n}/${base}`);
  if (rounds > 1) {
    for (const n of names.slice(0, -1)) header.push(`${n}/${base} per round`);
  }
  const body = first.map((row, i) => {
    const cells = [row.name];
    for (const n of names) {
      const r = results.get(n)![i];
      cells.push(
        Math.round(r.opsPerSec).toLocaleString("en-US"),
        r.p50us.toFixed(1),
        r.p99us.toFixed(0),
        Number.isNaN(r.backendCpu) ? "?" : r.backendCpu!.toFixed(2),
      );
    }
    cells.push(
      names.map((n) => (results.get(n)![i].frontendCpu ?? 0).toFixed(2)).join("/"),
    );
    for (const n of names.slice(0, -1)) {
      cells.push(`${(results.get(n)![i].opsPerSec / results.get(base)![i].opsPerSec).toFixed(2)}x`);
    }
    if (rounds > 1) {
      for (const n of names.slice(0, -1)) {
        const own = runs.get(n)!;
        const other = runs.get(base)!;
        cells.push(
          own.map((r, k) => (r[i].opsPerSec / other[k][i].opsPerSec).toFixed(2)).join(" "),
        );
      }
    }
    return cells;
  });
  console.log(
    `test front-end (TypeScript, sync FFI, watches the used ring ${frontendSpinUs} us before ` +
      `sleeping), ${seconds} s per row, source on /dev/shm, ringside-record capture in ${captureDir}, median of ${rounds} round(s) ` +
      `(targets alternating); ` +
      `cpu = CPU seconds per second of the back-end process, front-end cpu likewise per target; ` +
      `1-min load after each round ${loads.join(" ")}, now ` +
      `${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}\n`,
  );
  console.log(markdownTable(header, body));
  return 0;
}

if (import.meta.main) {
  Deno.exit(await benchMain(Deno.args));
}
