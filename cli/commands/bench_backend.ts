/**
 * `ringside bench-backend`: drive a back-end directly, without a guest, and
 * report ops/s and latency percentiles per opcode at each queue depth, with
 * the front-end's own CPU use beside them (a front-end that saturates a core
 * measures itself, not the back-end).
 *
 * - `--target vhost-user:SOCKET`: through the test front-end (memfd guest
 *   memory, split rings, kicks and calls), polled synchronously.
 * - `--dir DIR`: the engine in process (no transport at all).
 * - `--mix getattr,read4k,write4k` (default) runs each for `--duration`
 *   seconds per depth (`read1m`, `write1m`: 1 MiB in 4 KiB pages); every
 *   reply must succeed; `--capture FILE` replays a capture as fast as possible
 *   with `depth` requests in flight and reports per opcode.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";
import { decodeReply, encodeRequest, opcodeName, type OpName } from "../../codecs/fuse/mod.ts";
import { createPassthrough } from "../../engine/session.ts";
import { replay, type ReplayTarget } from "../../engine/replayer.ts";
import { loadCapture, VhostUserTarget } from "./_replay_io.ts";
import { replyError } from "../../transports/framing.ts";
import { guestReplySizes, guestRequestParts } from "../../transports/vhost_user/frontend.ts";

/** One row of the benchmark. */
export interface BenchRow {
  /** What ran (`GETATTR`, `READ 4k`, an opcode of the capture). */
  name: string;
  /** Queue depth. */
  depth: number;
  /** Operations completed. */
  ops: number;
  /** Operations per second. */
  opsPerSec: number;
  /** Latency percentiles, µs. */
  p50us: number;
  /** 99th percentile, µs. */
  p99us: number;
  /** Front-end CPU time over wall time while the row ran (1.0 = one core). */
  frontendCpu: number;
}

function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in USER_HZ (100)
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One operation of the mix. */
interface Maker {
  /** Its row name (`READ 4k`). */
  name: string;
  /** The `i`th request. */
  make: (i: number) => Uint8Array;
  /** Writable space for the reply: one buffer, or one per size listed. */
  reply: number | readonly number[];
  /**
   * Through a ring, the request goes as a Linux guest queues large I/O:
   * headers, arguments of this many bytes, then the data in pages.
   */
  paged?: number;
}

/** Checks a reply's fuse_out_header: the run stops at the first error. */
function checkReply(m: Maker, reply: Uint8Array): void {
  const error = reply.length < 16 ? -1 : replyError(reply);
  if (error !== 0) {
    throw new UserError(
      `the back-end failed a ${m.name} request (error ${error}): no figures for it`,
    );
  }
}

/** Something that runs one request type at a given depth for a while. */
interface Driver {
  /** Runs `m`'s requests for `seconds` with `depth` in flight; returns the latencies. */
  run(m: Maker, depth: number, seconds: number): number[];
  call(req: Uint8Array, replySize: number): Uint8Array;
  close(): void;
  label: string;
}

function vhostDriver(t: VhostUserTarget): Driver {
  const q = t.requestQueue;
  return {
    label: t.description,
    call(req, replySize) {
      const u = q.roundTrip(req, replySize, 10000);
      return u.written.subarray(0, u.len);
    },
    run(m, depth, seconds) {
      const started = new Map<number, number>();
      const lat: number[] = [];
      let i = 0;
      const submit = () => {
        const at = performance.now();
        const r = m.make(i++);
        const token = q.submit(m.paged === undefined ? r : guestRequestParts(r, m.paged), m.reply);
        if (token === null) {
          throw new UserError(
            `${m.name} at depth ${depth}: the ring or the front-end's buffer memory is full ` +
              "(use a smaller --depth)",
          );
        }
        started.set(token, at);
      };
      const end = performance.now() + seconds * 1000;
      for (let k = 0; k < depth; k++) submit();
      for (;;) {
        const used = q.waitUsed(10000);
        if (used.length === 0) throw new Error("the back-end did not answer within 10 s");
        const now = performance.now();
        for (const u of used) {
          lat.push(now - started.get(u.token)!);
          started.delete(u.token);
          checkReply(m, u.written);
        }
        if (now >= end) break;
        for (let k = 0; k < used.length; k++) submit();
      }
      while (started.size > 0) for (const u of q.waitUsed(10000)) started.delete(u.token);
      return lat;
    },
    close: () => t.close(),
  };
}

function engineDriver(dir: string): Driver {
  const server = createPassthrough(dir);
  const call = (req: Uint8Array) => {
    const r = server.handle(req);
    if (r instanceof Promise || r === null) {
      throw new Error("unexpected asynchronous or empty reply");
    }
    return r;
  };
  return {
    label: `engine:${dir}`,
    call,
    run(m, _depth, seconds) {
      // in process there is no queue: depth makes no difference, requests run back to back
      const lat: number[] = [];
      const end = performance.now() + seconds * 1000;
      let i = 0;
      for (;;) {
        const t0 = performance.now();
        const r = call(m.make(i++));
        const t1 = performance.now();
        checkReply(m, r);
        lat.push(t1 - t0);
        if (t1 >= end) break;
      }
      return lat;
    },
    close() {},
  };
}

/** The operations `--mix` takes; the default mix is the first three. */
export const MIX_OPS = ["getattr", "read4k", "write4k", "read1m", "write1m"];
const BIG = 1 << 20;

const FILE = "ringside-bench.dat";
const FILE_SIZE = 4 << 20;

function req(op: OpName, unique: bigint, nodeid: bigint, body: unknown): Uint8Array {
  return encodeRequest({ op, header: { unique, nodeid, pid: 1 }, body } as never);
}

/** Runs a fixed mix on a driver; returns one row per op and depth. */
function runMix(d: Driver, mix: string[], depths: number[], seconds: number): BenchRow[] {
  let unique = 2n;
  const init = decodeReply(
    d.call(
      req("INIT", unique++, 0n, {
        major: 7,
        minor: 31,
        max_readahead: 131072,
        // FUSE_MAX_PAGES, as Linux asks: a back-end then takes 1 MiB requests
        flags: 1 << 22,
        flags2: 0,
      }),
      4096,
    ),
    { opcode: "INIT" },
  );
  if (init.header.error !== 0) throw new UserError(`INIT failed: ${init.header.error}`);
  const created = decodeReply(
    d.call(
      req("CREATE", unique++, 1n, {
        flags: 0o102,
        mode: 0o100644,
        umask: 0,
        open_flags: 0,
        name: FILE,
      }),
      4096,
    ),
    { opcode: "CREATE" },
  );
  if (created.op !== "CREATE" || created.body === null) {
    throw new UserError(
      `cannot create ${FILE} in the served directory (error ${created.header.error})`,
    );
  }
  const nodeid = created.body.entry.nodeid;
  const fh = created.body.open.fh;
  const block = new Uint8Array(4096).fill(0x5a);
  const blocks = FILE_SIZE / 4096;
  const rw = { read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 };
  for (let b = 0; b < blocks; b++) {
    d.call(
      req("WRITE", unique++, nodeid, {
        fh,
        offset: BigInt(b * 4096),
        size: 4096,
        write_flags: 0,
        ...rw,
        data: block,
      }),
      64,
    );
  }
  const stamp = (b: Uint8Array) => {
    new DataView(b.buffer, b.byteOffset).setBigUint64(8, unique++, true);
    return b;
  };
  // 1 MiB, sent through a ring in 4 KiB pages as a Linux guest sends cache=none
  // I/O; the WRITE is encoded once and its offset set per request
  const bigOffset = (i: number) => BigInt((i % (FILE_SIZE / BIG)) * BIG);
  const bigWrite = req("WRITE", 0n, nodeid, {
    fh,
    offset: 0n,
    size: BIG,
    write_flags: 0,
    ...rw,
    data: new Uint8Array(BIG).fill(0x5a),
  });
  const makers: Record<string, Maker> = {
    getattr: {
      name: "GETATTR",
      make: () => stamp(req("GETATTR", 0n, nodeid, { getattr_flags: 0, dummy: 0, fh: 0n })),
      reply: 256,
    },
    read4k: {
      name: "READ 4k",
      make: (i) =>
        stamp(
          req("READ", 0n, nodeid, {
            fh,
            offset: BigInt(((i * 7919) % blocks) * 4096),
            size: 4096,
            ...rw,
          }),
        ),
      reply: 16 + 4096,
    },
    write4k: {
      name: "WRITE 4k",
      make: (i) =>
        stamp(
          req("WRITE", 0n, nodeid, {
            fh,
            offset: BigInt(((i * 7919) % blocks) * 4096),
            size: 4096,
            write_flags: 0,
            ...rw,
            data: block,
          }),
        ),
      reply: 64,
    },
    read1m: {
      name: "READ 1M",
      make: (i) => stamp(req("READ", 0n, nodeid, { fh, offset: bigOffset(i), size: BIG, ...rw })),
      reply: guestReplySizes(BIG),
      paged: 40,
    },
    write1m: {
      name: "WRITE 1M",
      make: (i) => {
        // fuse_write_in.offset
        new DataView(bigWrite.buffer, bigWrite.byteOffset).setBigUint64(48, bigOffset(i), true);
        return stamp(bigWrite);
      },
      reply: 64,
      paged: 40,
    },
  };
  const rows: BenchRow[] = [];
  for (const depth of depths) {
    for (const m of mix) {
      const k = makers[m];
      d.run(k, depth, Math.min(0.2, seconds / 5)); // warm up
      const c0 = cpuSeconds();
      const t0 = performance.now();
      const lat = d.run(k, depth, seconds);
      const wall = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds() - c0;
      lat.sort((a, b) => a - b);
      rows.push({
        name: k.name,
        depth,
        ops: lat.length,
        opsPerSec: lat.length / wall,
        p50us: pct(lat, 50) * 1000,
        p99us: pct(lat, 99) * 1000,
        frontendCpu: cpu / wall,
      });
    }
  }
  d.call(req("RELEASE", unique++, nodeid, { fh, flags: 0, release_flags: 0, lock_owner: 0n }), 64);
  d.call(req("UNLINK", unique++, 1n, { name: FILE }), 64);
  return rows;
}

/** Replays a capture at each depth as fast as possible; one row per opcode and depth. */
async function runCapture(
  target: () => Promise<{ target: ReplayTarget; close(): void }>,
  capture: string,
  depths: number[],
): Promise<BenchRow[]> {
  const loaded = await loadCapture(capture);
  const rows: BenchRow[] = [];
  for (const depth of depths) {
    const t = await target();
    const lat = new Map<number, number[]>();
    const timed: ReplayTarget = {
      description: t.target.description,
      async send(b: Uint8Array) {
        const op = new DataView(b.buffer, b.byteOffset).getUint32(4, true);
        const t0 = performance.now();
        const r = await t.target.send(b);
        const l = lat.get(op) ?? [];
        l.push(performance.now() - t0);
        lat.set(op, l);
        return r;
      },
    };
    const c0 = cpuSeconds();
    const w0 = performance.now();
    await replay(loaded.exchanges, timed, { concurrency: depth });
    const wall = (performance.now() - w0) / 1000;
    const cpu = cpuSeconds() - c0;
    t.close();
    for (const [op, l] of [...lat].sort((a, b) => b[1].length - a[1].length)) {
      l.sort((a, b) => a - b);
      rows.push({
        name: opcodeName(op),
        depth,
        ops: l.length,
        opsPerSec: l.length / wall,
        p50us: pct(l, 50) * 1000,
        p99us: pct(l, 99) * 1000,
        frontendCpu: cpu / wall,
      });
    }
  }
  return rows;
}

/** The flags of `ringside bench-backend`. */
export interface BenchBackendFlags {
  /** `vhost-user:SOCKET`. */
  target?: string;
  /** Serve this directory with the engine in process. */
  dir?: string;
  /** Queue depths, comma-separated. */
  depth?: string;
  /** Operations, comma-separated. */
  mix?: string;
  /** A capture to replay instead of a mix. */
  capture?: string;
  /** Seconds per row. */
  duration?: string;
  /** Print JSON. */
  json?: true;
}

/** Runs the benchmark and returns the rows. */
export async function runBenchBackend(
  flags: BenchBackendFlags,
): Promise<{ label: string; rows: BenchRow[] }> {
  if ((flags.dir === undefined) === (flags.target === undefined)) {
    throw new UserError("give exactly one of --dir DIR and --target vhost-user:SOCKET", 2);
  }
  if (flags.mix !== undefined && flags.capture !== undefined) {
    throw new UserError("give --mix or --capture, not both", 2);
  }
  const depths = (flags.depth ?? "1,16").split(",").map((s) => Number(s.trim()));
  if (depths.some((d) => !Number.isInteger(d) || d < 1 || d > 64)) {
    throw new UserError(`--depth must list integers from 1 to 64, got "${flags.depth}"`, 2);
  }
  const seconds = Number(flags.duration ?? "2");
  if (!(seconds > 0)) {
    throw new UserError(`--duration must be a positive number, got "${flags.duration}"`, 2);
  }
  const mix = (flags.mix ?? "getattr,read4k,write4k").split(",").map((s) => s.trim());
  for (const m of mix) {
    if (!MIX_OPS.includes(m)) {
      throw new UserError(`--mix: unknown operation "${m}" (${MIX_OPS.join(", ")})`, 2);
    }
  }
  const socket = flags.target === undefined
    ? undefined
    : /^vhost-user:(.+)$/.exec(flags.target)?.[1];
  if (flags.target !== undefined && socket === undefined) {
    throw new UserError(`--target ${flags.target}: expected vhost-user:SOCKET`, 2);
  }
  if (flags.capture !== undefined) {
    const open = async () => {
      if (socket !== undefined) {
        const t = await VhostUserTarget.open(socket);
        return { target: t as ReplayTarget, close: () => t.close() };
      }
      const s = createPassthrough(flags.dir!);
      return {
        target: {
          description: `engine:${flags.dir}`,
          send: (b: Uint8Array) => Promise.resolve(s.handle(b)),
        },
        close() {},
      };
    };
    if (socket !== undefined && depths.length > 1) {
      throw new UserError(
        "--capture with a vhost-user target: give one --depth (virtiofsd serves one connection)",
        2,
      );
    }
    return {
      label: flags.target ?? `engine:${flags.dir}`,
      rows: await runCapture(open, flags.capture, depths),
    };
  }
  const d = socket !== undefined
    // a 1 MiB request in pages is 258 descriptors: the ring needs more than 128
    ? vhostDriver(await VhostUserTarget.open(socket, { queueSize: 512 }))
    : engineDriver(flags.dir!);
  try {
    return { label: d.label, rows: runMix(d, mix, depths, seconds) };
  } finally {
    d.close();
  }
}

/** The rows as a text table. */
export function benchTable(label: string, rows: BenchRow[]): string {
  const head = ["op", "depth", "ops/s", "p50 µs", "p99 µs", "front-end CPU"];
  const body = rows.map((r) => [
    r.name,
    String(r.depth),
    Math.round(r.opsPerSec).toLocaleString("en-US"),
    r.p50us.toFixed(1),
    r.p99us.toFixed(1),
    `${Math.round(r.frontendCpu * 100)}%`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join("  ");
  return [`bench-backend ${label}`, line(head), ...body.map(line)].join("\n");
}

/** Registers `bench-backend` on `program`. */
export function registerBenchBackend(program: Command<[], { debug?: true }>): void {
  program
    .command("bench-backend")
    .description(
      "drive a back-end without a guest: ops/s and latency per opcode at each queue depth",
    )
    .option("--target <target>", "vhost-user:SOCKET")
    .option("--dir <dir>", "the engine in process over this directory")
    .option("--depth <list>", "queue depths (default 1,16)")
    .option(
      "--mix <ops>",
      "getattr,read4k,write4k (the default), read1m,write1m (1 MiB in 4 KiB pages, as a guest " +
        "sends cache=none I/O)",
    )
    .option("--capture <file>", "replay this capture instead of a mix")
    .option("--duration <s>", "seconds per row (default 2)")
    .option("--json", "print JSON")
    .action(async (flags) => {
      const { label, rows } = await runBenchBackend(flags);
      console.log(
        flags.json ? JSON.stringify({ target: label, rows }, null, 2) : benchTable(label, rows),
      );
    });
}
