/**
 * Where a guest's request waits: runs fsbench's write and read phases in a
 * throw-away guest through the C virtiofsd and through ringside's vhost-user
 * back-end (same caching, same host directory), records the system calls of
 * the whole host with `perf record` (kernel tracepoints: nothing in either
 * back-end is instrumented), and splits each request's round trip, from the
 * vCPU's kick to QEMU reading the call, into phases:
 *
 * - `wake`: the kick written by QEMU until the back-end's serving thread
 *   leaves poll(2) (0 when it caught the request while polling);
 * - `prepare`: from there to its first pwritev/preadv (walking the ring,
 *   decoding, looking up the file);
 * - `io`: its first pwritev/preadv entered until its last one returned;
 * - `reply`: from there to its write of the call eventfd (reply header, used
 *   ring, interrupt decision);
 * - `deliver`: the call written until QEMU's main loop reads it;
 * - `total`: kick to call read.
 *
 * ```sh
 * deno run -A bench/roundtrip_bench.ts                  # cache=auto, 128 MiB
 * deno run -A bench/roundtrip_bench.ts --cache none --mib 256 --json
 * ```
 *
 * Needs `perf` (linux-perf) and root. A timing tool, not a test: under
 * `deno bench` this file registers nothing (it is a script).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { markdownTable } from "./_table.ts";
import { quantile } from "./_stats.ts";
import { ensureGuestImage, type GuestShare, runGuest } from "../guest/mod.ts";
import { startVhostUserBackend } from "../transports/vhost_user/mod.ts";

const TRACEPOINTS = [
  "sys_enter_write",
  "sys_enter_read",
  "sys_enter_pwritev",
  "sys_exit_pwritev",
  "sys_enter_preadv",
  "sys_exit_preadv",
  "sys_exit_poll",
  "sys_exit_ppoll",
].map((t) => `syscalls:${t}`);

/** One traced system call: thread, process name, time (µs), tracepoint, fd (reads and writes). */
export interface TracedCall {
  tid: number;
  comm: string;
  us: number;
  event: string;
  fd?: number;
}

/** Parses `perf script -F comm,tid,time,event,trace` output. */
export function parsePerfScript(text: string): TracedCall[] {
  const out: TracedCall[] = [];
  const line = /^\s*(.+?)\s+(\d+)\s+(\d+\.\d+):\s+syscalls:(\w+):\s*(.*)$/;
  for (const l of text.split("\n")) {
    const m = line.exec(l);
    if (m === null) continue;
    const fd = /^fd: 0x([0-9a-f]+)/.exec(m[5]);
    out.push({
      comm: m[1],
      tid: Number(m[2]),
      us: Number(m[3]) * 1e6,
      event: m[4],
      fd: fd === null ? undefined : parseInt(fd[1], 16),
    });
  }
  return out;
}

/** The phases of one request's round trip, µs. */
export interface RoundTrip {
  op: "write" | "read";
  wake: number;
  prepare: number;
  io: number;
  reply: number;
  deliver: number;
  total: number;
}

const PHASES = ["wake", "prepare", "io", "reply", "deliver", "total"] as const;

function mostCommon<K>(keys: K[]): [K, number][] {
  const counts = new Map<string, [K, number]>();
  for (const k of keys) {
    const id = JSON.stringify(k);
    const c = counts.get(id);
    if (c === undefined) counts.set(id, [k, 1]);
    else c[1]++;
  }
  return [...counts.values()].sort((a, b) => b[1] - a[1]);
}

/** The first index in sorted `xs` at or after `t`. */
function after(xs: number[], t: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Splits the round trips out of a trace. The serving thread is the one
 * outside QEMU with the most pwritev/preadv; its call fd the one it writes
 * most, its kick fd the one it reads most. QEMU's kick and call are the
 * (thread, fd) writes and reads whose counts come closest to those.
 * Throws when the trace holds no such thread.
 */
export function roundTrips(calls: TracedCall[]): RoundTrip[] {
  const isQemu = (c: TracedCall) => c.comm.startsWith("qemu-system");
  const io = calls.filter((c) =>
    !isQemu(c) && (c.event === "sys_enter_pwritev" || c.event === "sys_enter_preadv")
  );
  if (io.length === 0) throw new Error("the trace has no pwritev/preadv outside QEMU");
  const tid = mostCommon(io.map((c) => c.tid))[0][0];
  const mine = calls.filter((c) => c.tid === tid);
  const writes = mostCommon(mine.filter((c) => c.event === "sys_enter_write").map((c) => c.fd));
  const reads = mostCommon(mine.filter((c) => c.event === "sys_enter_read").map((c) => c.fd));
  if (writes.length === 0 || reads.length === 0) {
    throw new Error(`thread ${tid} neither reads a kick nor writes a call`);
  }
  const [callFd, calls_] = writes[0];
  const [, kicks] = reads[0];
  const closest = (event: string, n: number) => {
    const cands = mostCommon(
      calls.filter((c) => isQemu(c) && c.event === event).map((c) => [c.tid, c.fd]),
    );
    cands.sort((a, b) => Math.abs(a[1] - n) - Math.abs(b[1] - n));
    if (cands.length === 0) throw new Error(`no QEMU ${event} in the trace`);
    return cands[0][0];
  };
  const [kTid, kFd] = closest("sys_enter_write", kicks);
  const [qTid, qFd] = closest("sys_enter_read", calls_);
  const times = (f: (c: TracedCall) => boolean) => calls.filter(f).map((c) => c.us);
  const K = times((c) => c.tid === kTid && c.fd === kFd && c.event === "sys_enter_write");
  const Q = times((c) => c.tid === qTid && c.fd === qFd && c.event === "sys_enter_read");
  const P = times((c) =>
    c.tid === tid && (c.event === "sys_exit_poll" || c.event === "sys_exit_ppoll")
  );
  const C = times((c) => c.tid === tid && c.event === "sys_enter_write" && c.fd === callFd);
  const ioIn = mine.filter((c) =>
    c.event === "sys_enter_pwritev" || c.event === "sys_enter_preadv"
  );
  const ioInAt = ioIn.map((c) => c.us);
  const ioOutAt = times((c) =>
    c.tid === tid && (c.event === "sys_exit_pwritev" || c.event === "sys_exit_preadv")
  );
  const out: RoundTrip[] = [];
  for (let i = 0; i < K.length; i++) {
    const k = K[i];
    const next = i + 1 < K.length ? K[i + 1] : Infinity;
    const f = after(ioInAt, k);
    if (f >= ioInAt.length || ioInAt[f] >= next) continue; // a kick without file I/O
    const first = ioInAt[f];
    const c = C[after(C, first)];
    const q = Q[after(Q, c)];
    if (c === undefined || q === undefined || c >= next) continue;
    // the last I/O return before the call, and the last poll exit before the first I/O
    const lastOut = ioOutAt[after(ioOutAt, c) - 1];
    // (another thread's call, or I/O still running: not one request's trip)
    if (lastOut === undefined || lastOut < first) continue;
    const p = P[after(P, first) - 1];
    const woke = p !== undefined && p >= k ? p : k;
    out.push({
      op: ioIn[f].event === "sys_enter_pwritev" ? "write" : "read",
      wake: woke - k,
      prepare: first - woke,
      io: lastOut - first,
      reply: c - lastOut,
      deliver: q - c,
      total: q - k,
    });
  }
  return out;
}

/** p50, p90 and mean of each phase. */
export function summarize(
  trips: RoundTrip[],
): Record<string, { p50: number; p90: number; mean: number }> {
  const s: Record<string, { p50: number; p90: number; mean: number }> = {};
  for (const ph of PHASES) {
    const xs = trips.map((t) => t[ph]).sort((a, b) => a - b);
    s[ph] = {
      p50: quantile(xs, 0.5),
      p90: quantile(xs, 0.9),
      mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    };
  }
  return s;
}

async function traced(
  label: string,
  share: GuestShare,
  mib: number,
): Promise<RoundTrip[]> {
  const data = await Deno.makeTempFile({ prefix: "ringside-roundtrip-", suffix: ".data" });
  const perf = new Deno.Command("perf", {
    args: ["record", "-a", "-q", "-o", data, "-e", TRACEPOINTS.join(","), "--exclude-perf"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 500)); // perf attaches its tracepoints
    const r = await runGuest({
      share,
      command: ["fsbench", "-d", "/mnt", "-n", "0", "-s", String(mib), "-r", "0", "-l", label],
      timeoutMs: 600_000,
    });
    if (r.code !== 0) {
      throw new Error(
        `${label}: the guest failed (status ${r.code}): ${r.failure ?? ""} ${
          new TextDecoder().decode(r.stderr).trim()
        }`,
      );
    }
    console.error(`roundtrip: ${label}: ${new TextDecoder().decode(r.stdout).trim()}`);
  } finally {
    perf.kill("SIGINT");
    const st = await perf.output();
    if (!st.success && st.code !== 130 && st.code !== 2) {
      console.error(new TextDecoder().decode(st.stderr));
    }
  }
  try {
    const script = new Deno.Command("perf", {
      args: ["script", "-i", data, "-F", "comm,tid,time,event,trace"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    // line by line: a trace of the whole host runs to hundreds of MB
    const calls: TracedCall[] = [];
    let rest = "";
    for await (const chunk of script.stdout.pipeThrough(new TextDecoderStream())) {
      const text = rest + chunk;
      const cut = text.lastIndexOf("\n");
      calls.push(...parsePerfScript(text.slice(0, cut + 1)));
      rest = text.slice(cut + 1);
    }
    calls.push(...parsePerfScript(rest));
    await script.status;
    return roundTrips(calls);
  } finally {
    await Deno.remove(data).catch(() => {});
  }
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      cache: { type: "string", default: "auto" },
      mib: { type: "string", default: "128" },
      json: { type: "boolean", default: false },
      trips: { type: "string" },
      "read-threads": { type: "string" },
      "poll-us": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno run -A bench/roundtrip_bench.ts [--cache auto|none] [--mib N] [--json]\n" +
        "       [--trips FILE.jsonl]   (every round trip, appended)\n" +
        "       [--read-threads 1|2] [--poll-us N]   (ringside's, default: the back-end's)\n" +
        "Splits each guest request's round trip (kick to call) into wake, prepare, io, reply\n" +
        "and deliver for the C virtiofsd and for ringside, from a `perf record` of system calls.",
    );
    return 0;
  }
  const cache = values.cache;
  if (cache !== "auto" && cache !== "none") {
    console.error(`roundtrip: --cache ${cache}: expected auto or none`);
    return 2;
  }
  const readThreads = values["read-threads"];
  if (readThreads !== undefined && readThreads !== "1" && readThreads !== "2") {
    console.error(`roundtrip: --read-threads ${readThreads}: expected 1 or 2`);
    return 2;
  }
  const pollUs = values["poll-us"] === undefined ? undefined : Number(values["poll-us"]);
  if (pollUs !== undefined && !(Number.isInteger(pollUs) && pollUs >= 0)) {
    console.error(`roundtrip: --poll-us ${values["poll-us"]}: expected a whole number of us`);
    return 2;
  }
  const mib = Number(values.mib);
  if (!Number.isInteger(mib) || mib <= 0) {
    console.error(`roundtrip: --mib ${values.mib}: expected a positive whole number`);
    return 2;
  }
  const probe = await new Deno.Command("perf", {
    args: ["--version"],
    stdout: "null",
    stderr: "null",
  })
    .output().catch(() => undefined);
  if (probe === undefined || !probe.success) {
    console.error("roundtrip: needs perf (Debian: apt-get install linux-perf)");
    return 2;
  }
  await ensureGuestImage({ log: (l) => console.error(`roundtrip: ${l}`) });
  const hostDir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ringside-roundtrip-" });
  const socket = `${hostDir}.sock`;
  // like `ringside serve` and virtiofsd by default: no extended attributes
  const backend = await startVhostUserBackend(socket, hostDir, {
    passthrough: { cache: cache === "none" ? "never" : "auto", xattr: false },
    readThreads: readThreads === undefined ? undefined : readThreads === "1" ? 1 : 2,
    spinMicroseconds: pollUs,
    log: (l) => console.error(`roundtrip: ringside: ${l}`),
  });
  const results: Record<
    string,
    Record<string, { n: number; phases: ReturnType<typeof summarize> }>
  > = {};
  try {
    const runs: [string, GuestShare][] = [
      [`virtiofsd-${cache}`, { kind: "virtiofsd", dir: hostDir, cache }],
      [`ringside-${cache}`, { kind: "vhost-user", socket }],
    ];
    for (const [label, share] of runs) {
      const trips = await traced(label, share, mib);
      if (values.trips !== undefined) {
        await Deno.writeTextFile(
          values.trips,
          trips.map((t) => JSON.stringify({ backend: label, ...t }) + "\n").join(""),
          { append: true },
        );
      }
      results[label] = {};
      for (const op of ["write", "read"] as const) {
        const mine = trips.filter((t) => t.op === op);
        if (mine.length > 0) results[label][op] = { n: mine.length, phases: summarize(mine) };
      }
    }
  } finally {
    await backend.close();
    await Deno.remove(hostDir, { recursive: true }).catch(() => {});
  }
  if (values.json) {
    console.log(JSON.stringify({ cache, mib, results }));
    return 0;
  }
  const labels = Object.keys(results);
  for (const op of ["write", "read"] as const) {
    const header = ["phase (µs)", ...labels.flatMap((l) => [`${l} p50`, "p90", "mean"])];
    const rows = PHASES.map((ph) => [
      ph,
      ...labels.flatMap((l) => {
        const s = results[l][op]?.phases[ph];
        return s === undefined ? ["-", "-", "-"] : [s.p50, s.p90, s.mean].map((v) => v.toFixed(0));
      }),
    ]);
    const counts = labels.map((l) => `${l} ${results[l][op]?.n ?? 0}`).join(", ");
    console.log(`\n${op.toUpperCase()} round trips (${counts})\n`);
    console.log(markdownTable(header, rows));
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
