/**
 * The replayer: runs a recorded FUSE session again against a target (the
 * engine in process, or any backend behind a vhost-user front-end) and keeps
 * both replies of every request for the differ.
 *
 * The input is abstract: a list of recorded exchanges (request bytes, reply
 * bytes, times), so captures of any format feed it. The INIT exchange goes
 * first with the recorded `fuse_init_in`; every later request is decoded at
 * the recorded session's protocol minor, translated through an
 * {@linkcode IdentityMap} (node ids, handles, lock owners, readdir cookies,
 * uniques, FORGET counts) and re-encoded at the minor the target negotiated.
 *
 * Order: requests are issued in recorded order. With `concurrency` above 1,
 * a request waits only for the earlier requests it depends on
 * (resource-oriented ordering): the last earlier request that touched one of
 * its node ids, handles or parent directories, or a node it names (the
 * recording's own replies say which node a name is) and that the recording
 * shows finished before it was issued; a FORGET waits for every earlier user
 * of its node; INIT, DESTROY and SYNCFS are barriers. A SETLKW the recording
 * shows blocked (answered after later requests were issued) does not hold
 * back the requests after it.
 *
 * Timing: `asap` issues as soon as the order allows; `original` keeps the
 * recorded inter-arrival times divided by `speed`, and the result reports how
 * late each request was issued (mean and p99).
 *
 * @example
 * ```ts ignore
 * import { createPassthrough } from "./session.ts";
 * import { engineTarget, replay } from "./replayer.ts";
 * const result = await replay(exchanges, engineTarget(createPassthrough("/tmp/copy")));
 * console.log(result.exchanges.length, result.targetMinor);
 * ```
 *
 * @module
 */
import {
  decodeReply,
  decodeRequest,
  encodeRequest,
  type FuseCodecOptions,
  type FuseName,
  type FuseReply,
  type FuseRequest,
  InitFlag,
  initFlagsWord,
  opcodeHasNoReply,
  type RequestBodies,
  splitInitFlags,
} from "../codecs/fuse/mod.ts";
import type { FuseServer } from "./types.ts";
import {
  IdentityMap,
  learnReply,
  PlusBinder,
  replyHandle,
  replyNodeIds,
  translateRequest,
} from "./identity.ts";

/** One recorded request with its recorded reply. */
export interface RecordedExchange {
  /** Where it is in the capture (frame number of the request), for reports. */
  seq: number;
  /** When the request was issued, in nanoseconds (any epoch). */
  time: bigint;
  /** The raw request message (fuse_in_header and body). */
  request: Uint8Array;
  /** The raw reply message, or null when there was none (FORGET) or the capture lacks it. */
  reply: Uint8Array | null;
  /** When the reply came, in nanoseconds; absent when unknown. */
  replyTime?: bigint;
}

/** Where replayed requests go: anything that answers raw FUSE requests. */
export interface ReplayTarget {
  /** Sends one request; resolves to the reply, or null when the target sends none. */
  send(request: Uint8Array): Promise<Uint8Array | null>;
  /** Says what the target is, for reports (`engine:/tmp/copy`, `vhost-user:/tmp/fs.sock`). */
  readonly description: string;
}

/** A {@linkcode ReplayTarget} over a {@linkcode FuseServer} in this process (the engine). */
export function engineTarget(
  server: FuseServer,
  options: { description?: string } = {},
): ReplayTarget {
  return {
    description: options.description ?? "engine",
    send(request: Uint8Array): Promise<Uint8Array | null> {
      try {
        return Promise.resolve(server.handle(request));
      } catch (e) {
        return Promise.reject(e);
      }
    },
  };
}

/** Options of {@linkcode replay}. */
export interface ReplayOptions {
  /** `asap` (default) or `original` (recorded inter-arrival times, divided by `speed`). */
  timing?: "asap" | "original";
  /** Speed factor for `original` timing (default 1; 2 is twice as fast). */
  speed?: number;
  /** Requests in flight at once (default 1: strictly one after the other). */
  concurrency?: number;
  /** FUSE minor of the recording until its INIT is seen (default 45). */
  minor?: number;
  /** Called after each exchange completes with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** One exchange after replay: what was recorded and what the target answered. */
export interface ReplayedExchange {
  /** The recorded exchange's `seq`. */
  seq: number;
  /** Position in the replay (0-based, recorded order). */
  index: number;
  /** The recorded request, decoded. */
  recorded: FuseRequest;
  /** The recorded reply, decoded, or null when none was recorded. */
  recordedReply: FuseReply | null;
  /** Why the recorded reply could not be decoded, when it could not. */
  recordedReplyError?: string;
  /** The request as sent to the target (translated), or null when it was not sent. */
  sent: FuseRequest | null;
  /** The target's reply, decoded, or null when it sent none. */
  targetReply: FuseReply | null;
  /** Why the target's reply could not be decoded, when it could not. */
  targetReplyError?: string;
  /** Why the request was not sent, when it was not. */
  skipped?: string;
  /** Nanoseconds after the replay's start the request was issued. */
  issuedNs: number;
  /** Nanoseconds after the recording's first request it was issued there. */
  recordedNs: number;
}

/** The timing error of an `original`-timing replay: how late requests were issued. */
export interface TimingError {
  /** Mean lateness, ns. */
  meanNs: number;
  /** 99th percentile lateness, ns. */
  p99Ns: number;
  /** Largest lateness, ns. */
  maxNs: number;
}

/** What {@linkcode replay} returns. */
export interface ReplayResult {
  /** Every exchange, in recorded order. */
  exchanges: ReplayedExchange[];
  /** Protocol minor of the recording. */
  recordedMinor: number;
  /** Protocol minor negotiated with the target. */
  targetMinor: number;
  /** INIT flags the target granted (`flags | flags2 << 32`), 0 when INIT failed. */
  targetFlags: bigint;
  /** Wall time of the replay, ns. */
  durationNs: number;
  /** With `original` timing: how late requests were issued. */
  timing?: TimingError;
  /** Recorded ids that had no translation (sent unchanged). */
  unmapped: { nodes: number; handles: number };
  /** FORGETs sent for target lookups the recording never made. */
  extraForgets: number;
}

interface Step {
  ex: RecordedExchange;
  req: FuseRequest;
  reply: FuseReply | null;
  replyError?: string;
  deps: number[];
  /** Issue only after this step has been issued (INTERRUPT after its request). */
  after?: number;
  barrier: boolean;
  /** Does not occupy a concurrency slot (a SETLKW the recording shows blocked). */
  detached: boolean;
}

function codecFromInit(
  init: FuseRequest | null,
  reply: FuseReply | null,
  fallback: number,
): FuseCodecOptions {
  if (init?.op !== "INIT" || reply?.op !== "INIT" || reply.body === null) {
    return { minor: fallback, setxattrExt: false };
  }
  const asked = initFlagsWord(init.body.flags, init.body.flags2);
  const granted = initFlagsWord(reply.body.flags, reply.body.flags2);
  return {
    minor: Math.min(init.body.minor, reply.body.minor),
    setxattrExt: (asked & granted & InitFlag.SETXATTR_EXT) !== 0n,
  };
}

/** A recorded exchange, decoded at the recording's protocol minor. */
export interface DecodedExchange {
  /** The exchange as recorded. */
  ex: RecordedExchange;
  /** The request. */
  req: FuseRequest;
  /** The reply, or null when none was recorded (or it does not decode). */
  reply: FuseReply | null;
  /** Why the reply does not decode, when it does not. */
  replyError?: string;
}

/** Decodes recorded exchanges, learning the protocol minor from their INIT (`minor` until then, default 45). */
export function decodeRecorded(
  exchanges: readonly RecordedExchange[],
  options: { minor?: number } = {},
): DecodedExchange[] {
  return decodeSteps(exchanges, options.minor ?? 45).steps.map((
    { ex, req, reply, replyError },
  ) => ({
    ex,
    req,
    reply,
    replyError,
  }));
}

/** Decodes the recorded exchanges at the recorded minor (learnt from its INIT). */
function decodeSteps(exchanges: readonly RecordedExchange[], minor: number): {
  steps: Step[];
  codec: FuseCodecOptions;
} {
  let codec: FuseCodecOptions = { minor, setxattrExt: false };
  const steps: Step[] = [];
  for (const ex of exchanges) {
    const req = decodeRequest(ex.request, codec);
    let reply: FuseReply | null = null;
    let replyError: string | undefined;
    if (ex.reply !== null) {
      try {
        reply = decodeReply(ex.reply, { request: req, ...codec });
      } catch (e) {
        replyError = e instanceof Error ? e.message : String(e);
      }
    }
    if (req.op === "INIT") codec = codecFromInit(req, reply, codec.minor ?? minor);
    steps.push({ ex, req, reply, replyError, deps: [], barrier: false, detached: false });
  }
  return { steps, codec };
}

const BARRIER_OPS = new Set(["INIT", "DESTROY", "SYNCFS"]);
const MAX_TOUCHERS = 32;

/** The recorded-namespace resources a request touches (besides what its reply introduces). */
function requestKeys(req: FuseRequest, names: Map<string, bigint>): string[] {
  const keys: string[] = [];
  const node = (n: bigint) => {
    if (n !== 0n) keys.push(`n${n}`);
  };
  const fh = (h: bigint) => keys.push(`h${h}`);
  const child = (parent: bigint, n: FuseName) => {
    const name = n.text;
    const c = names.get(`${parent}/${name}`);
    if (c !== undefined) node(c);
    keys.push(`e${parent}/${name}`);
  };
  if (req.op !== "INIT" && req.op !== "BATCH_FORGET") node(req.header.nodeid);
  switch (req.op) {
    case "LOOKUP":
    case "UNLINK":
    case "RMDIR":
    case "MKDIR":
    case "MKNOD":
    case "CREATE":
      child(req.header.nodeid, req.body.name);
      break;
    case "SYMLINK":
      child(req.header.nodeid, req.body.name);
      break;
    case "LINK":
      node(req.body.oldnodeid);
      child(req.header.nodeid, req.body.newname);
      break;
    case "RENAME":
    case "RENAME2":
      node(req.body.newdir);
      child(req.header.nodeid, req.body.oldname);
      child(req.body.newdir, req.body.newname);
      break;
    case "BATCH_FORGET":
      for (const f of req.body.forgets) node(f.nodeid);
      break;
    case "GETATTR":
    case "STATX":
    case "SETATTR":
      if (req.body.fh !== 0n) fh(req.body.fh);
      break;
    case "READ":
    case "WRITE":
    case "RELEASE":
    case "RELEASEDIR":
    case "FLUSH":
    case "READDIR":
    case "READDIRPLUS":
    case "FSYNC":
    case "FSYNCDIR":
    case "FALLOCATE":
    case "LSEEK":
    case "GETLK":
    case "SETLK":
    case "SETLKW":
    case "IOCTL":
    case "POLL":
      fh(req.body.fh);
      break;
    case "COPY_FILE_RANGE":
    case "COPY_FILE_RANGE_64":
      fh(req.body.fh_in);
      fh(req.body.fh_out);
      node(req.body.nodeid_out);
      break;
  }
  return keys;
}

/** Keeps the recorded name table (parent/name → node) up to date from a recorded exchange. */
function learnNames(req: FuseRequest, reply: FuseReply | null, names: Map<string, bigint>): void {
  const ok = reply !== null && reply.header.error === 0;
  if (!ok) return;
  const p = req.header.nodeid;
  const ids = replyNodeIds(reply);
  switch (req.op) {
    case "LOOKUP":
    case "MKDIR":
    case "MKNOD":
    case "CREATE":
    case "SYMLINK":
      if (ids.length === 1) names.set(`${p}/${req.body.name}`, ids[0]);
      break;
    case "LINK":
      if (ids.length === 1) names.set(`${p}/${req.body.newname}`, ids[0]);
      break;
    case "UNLINK":
    case "RMDIR":
      names.delete(`${p}/${req.body.name}`);
      break;
    case "RENAME":
    case "RENAME2": {
      const from = `${p}/${req.body.oldname}`;
      const to = `${req.body.newdir}/${req.body.newname}`;
      const n = names.get(from);
      names.delete(from);
      if (n !== undefined) names.set(to, n);
      break;
    }
    case "READDIRPLUS":
      if (reply.op === "READDIRPLUS" && reply.body !== null) {
        // the directory's node id is not in READDIRPLUS; entries are keyed by handle only
      }
      break;
  }
}

/** Computes each step's dependencies (see the module doc). */
function plan(steps: Step[]): void {
  const touchers = new Map<string, number[]>();
  const names = new Map<string, bigint>();
  const byUnique = new Map<bigint, number>();
  let lastBarrier = -1;
  const sinceBarrier: number[] = [];
  const finishedBefore = (t: number, r: number): boolean => {
    const rt = steps[t].ex.replyTime;
    // unknown reply time: assume it finished (recorded order is then all we know)
    return rt === undefined || rt <= steps[r].ex.time;
  };
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    const req = s.req;
    const deps = new Set<number>();
    if (BARRIER_OPS.has(req.op)) {
      s.barrier = true;
      for (const j of sinceBarrier) deps.add(j);
      if (lastBarrier >= 0) deps.add(lastBarrier);
      s.deps = [...deps];
      lastBarrier = i;
      sinceBarrier.length = 0;
      byUnique.set(req.header.unique, i);
      learnNames(req, s.reply, names);
      continue;
    }
    if (lastBarrier >= 0) deps.add(lastBarrier);
    if (req.op === "INTERRUPT") {
      const target = byUnique.get(req.body.unique);
      if (target !== undefined) s.after = target;
      s.deps = [...deps];
      sinceBarrier.push(i);
      continue;
    }
    const keys = requestKeys(req, names);
    for (const n of replyNodeIds(s.reply)) keys.push(`n${n}`);
    const h = replyHandle(s.reply);
    if (h !== null) keys.push(`h${h}`);
    const isForget = req.op === "FORGET" || req.op === "BATCH_FORGET";
    for (const k of keys) {
      const list = touchers.get(k);
      if (list !== undefined && list.length > 0) {
        if (isForget) {
          for (const t of list) deps.add(t);
        } else {
          for (let j = list.length - 1; j >= 0; j--) {
            const t = list[j];
            if (!steps[t].detached && finishedBefore(t, i)) {
              deps.add(t);
              break;
            }
          }
        }
      }
      if (isForget) touchers.set(k, [i]);
      else {
        const l = list ?? [];
        l.push(i);
        if (l.length > MAX_TOUCHERS) l.shift();
        if (list === undefined) touchers.set(k, l);
      }
    }
    if (req.op === "SETLKW" && steps[i].ex.replyTime !== undefined) {
      // blocked in the recording: a later request was issued before its reply
      const next = steps[i + 1];
      if (next !== undefined && steps[i].ex.replyTime! > next.ex.time) s.detached = true;
    }
    s.deps = [...deps];
    sinceBarrier.push(i);
    byUnique.set(req.header.unique, i);
    learnNames(req, s.reply, names);
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function nowNs(): number {
  return performance.now() * 1e6;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const DEFAULT_INIT_BODY: RequestBodies["INIT"] = (() => {
  const { flags, flags2 } = splitInitFlags(
    InitFlag.ASYNC_READ | InitFlag.POSIX_LOCKS | InitFlag.BIG_WRITES | InitFlag.DONT_MASK |
      InitFlag.DO_READDIRPLUS | InitFlag.FLOCK_LOCKS | InitFlag.MAX_PAGES | InitFlag.INIT_EXT,
  );
  return { major: 7, minor: 45, max_readahead: 131072, flags, flags2 };
})();

/**
 * Replays `exchanges` (in recorded order) against `target` and returns both
 * sides of every exchange. A capture without an INIT gets one (7.45, the
 * usual flags) before its first request.
 */
export async function replay(
  exchanges: readonly RecordedExchange[],
  target: ReplayTarget,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`speed must be above 0, found ${speed}`);
  const original = options.timing === "original";
  const { steps, codec: recordedCodec } = decodeSteps(exchanges, options.minor ?? 45);
  plan(steps);
  const ids = new IdentityMap();
  const plus = new PlusBinder();
  let targetCodec: FuseCodecOptions = { minor: recordedCodec.minor, setxattrExt: false };
  let targetFlags = 0n;
  let nextUnique = 2n;
  let extraForgets = 0;
  const results: (ReplayedExchange | undefined)[] = new Array(steps.length);
  const t0 = steps.length > 0 ? steps[0].ex.time : 0n;
  const start = nowNs();
  const lateness: number[] = [];

  const sendForgets = async (nodeids: bigint[]) => {
    for (const n of nodeids) {
      extraForgets++;
      await target.send(encodeRequest({
        op: "FORGET",
        header: { unique: nextUnique++, nodeid: n },
        body: { nlookup: 1n },
      }, targetCodec));
    }
  };

  if (steps.length === 0 || steps[0].req.op !== "INIT") {
    const bytes = encodeRequest({
      op: "INIT",
      header: { unique: nextUnique++, nodeid: 0n },
      body: DEFAULT_INIT_BODY,
    });
    const raw = await target.send(bytes);
    if (raw !== null) {
      const init = decodeRequest(bytes);
      const r = decodeReply(raw, { request: init });
      targetCodec = codecFromInit(init, r, 45);
      if (r.op === "INIT" && r.body !== null) {
        targetFlags = initFlagsWord(r.body.flags, r.body.flags2);
      }
    }
  }

  const run = async (i: number): Promise<void> => {
    const s = steps[i];
    const issuedNs = nowNs() - start;
    const recordedNs = Number(s.ex.time - t0);
    if (original) lateness.push(issuedNs - recordedNs / speed);
    const base: ReplayedExchange = {
      seq: s.ex.seq,
      index: i,
      recorded: s.req,
      recordedReply: s.reply,
      recordedReplyError: s.replyError,
      sent: null,
      targetReply: null,
      issuedNs,
      recordedNs,
    };
    const unique = nextUnique++;
    const init = translateRequest(s.req, ids, { unique });
    if (init === null) {
      results[i] = {
        ...base,
        skipped: s.req.op === "INTERRUPT"
          ? "the interrupted request was not replayed"
          : "nothing to forget on the target",
      };
      return;
    }
    ids.learnUnique(s.req.header.unique, unique);
    // INIT goes at the size its own minor gives, like the kernel sent it
    const enc = s.req.op === "INIT" ? { minor: s.req.body.minor } : targetCodec;
    let bytes: Uint8Array;
    let sent: FuseRequest;
    try {
      bytes = encodeRequest(init, enc);
      sent = decodeRequest(bytes, enc);
    } catch (e) {
      results[i] = { ...base, skipped: `cannot encode for the target: ${message(e)}` };
      return;
    }
    const raw = await target.send(bytes);
    let targetReply: FuseReply | null = null;
    let targetReplyError: string | undefined;
    if (raw !== null) {
      try {
        targetReply = decodeReply(raw, { request: sent, ...targetCodec });
      } catch (e) {
        targetReplyError = message(e);
      }
    }
    if (sent.op === "INIT" && targetReply?.op === "INIT") {
      targetCodec = codecFromInit(sent, targetReply, targetCodec.minor ?? 45);
      if (targetReply.body !== null) {
        targetFlags = initFlagsWord(targetReply.body.flags, targetReply.body.flags2);
      }
    }
    if (!opcodeHasNoReply(sent.header.opcode)) {
      const extra = learnReply(ids, plus, {
        recorded: s.req,
        recordedReply: s.reply,
        targetReply,
      });
      if (extra.length > 0) await sendForgets(extra);
    }
    results[i] = { ...base, sent, targetReply, targetReplyError };
  };

  // scheduler: issue in recorded order as dependencies, the window and the clock allow
  const issued = new Uint8Array(steps.length);
  const done = new Uint8Array(steps.length);
  let inFlight = 0;
  let firstUndone = 0;
  let firstUnissued = 0;
  let completed = 0;
  let issuedCount = 0;
  let wake: (() => void) | null = null;
  let failure: unknown = undefined;
  const window = Math.max(64, concurrency * 8);
  const ready = (i: number): boolean => {
    const s = steps[i];
    if (s.after !== undefined && !issued[s.after]) return false;
    for (const d of s.deps) if (!done[d]) return false;
    return true;
  };
  while (completed < steps.length) {
    if (failure !== undefined) throw failure;
    while (firstUndone < steps.length && done[firstUndone]) firstUndone++;
    while (firstUnissued < steps.length && issued[firstUnissued]) firstUnissued++;
    let launched = false;
    let waitMs = -1;
    const end = Math.min(steps.length, firstUndone + window);
    for (let i = firstUnissued; i < end && inFlight < concurrency; i++) {
      if (issued[i]) continue;
      if (original) {
        const due = Number(steps[i].ex.time - t0) / speed;
        const now = nowNs() - start;
        if (due > now) {
          waitMs = (due - now) / 1e6;
          break; // later requests are due later still
        }
      }
      if (!ready(i)) {
        if (concurrency === 1) break; // strictly in order
        continue;
      }
      issued[i] = 1;
      issuedCount++;
      launched = true;
      const detached = steps[i].detached;
      if (!detached) inFlight++;
      run(i).then(
        () => {
          done[i] = 1;
          completed++;
          if (!detached) inFlight--;
          options.onProgress?.(completed, steps.length);
          wake?.();
        },
        (e) => {
          failure ??= e;
          done[i] = 1;
          completed++;
          if (!detached) inFlight--;
          wake?.();
        },
      );
      if (concurrency === 1 && !detached) break;
    }
    if (completed >= steps.length) break;
    if (!launched && issuedCount - completed === 0 && waitMs < 0) {
      throw new Error(`replay scheduler stalled at request ${firstUnissued}`);
    }
    if (launched && inFlight < concurrency && waitMs < 0) {
      await Promise.resolve();
      continue;
    }
    const waiter = new Promise<void>((r) => (wake = r));
    if (waitMs >= 0) await Promise.race([waiter, sleep(Math.max(0, waitMs))]);
    else await waiter;
    wake = null;
  }
  if (failure !== undefined) throw failure;
  const durationNs = nowNs() - start;
  let timing: TimingError | undefined;
  if (original) {
    const sorted = lateness.map((x) => Math.max(0, x)).sort((a, b) => a - b);
    const sum = sorted.reduce((a, b) => a + b, 0);
    timing = {
      meanNs: sorted.length === 0 ? 0 : sum / sorted.length,
      p99Ns: percentile(sorted, 99),
      maxNs: sorted.length === 0 ? 0 : sorted[sorted.length - 1],
    };
  }
  return {
    exchanges: results as ReplayedExchange[],
    recordedMinor: recordedCodec.minor ?? 45,
    targetMinor: targetCodec.minor ?? 45,
    targetFlags,
    durationNs,
    timing,
    unmapped: { ...ids.unmapped },
    extraForgets,
  };
}
