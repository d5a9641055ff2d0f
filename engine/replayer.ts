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
 * late each request was issued (mean and p99). Waits sleep on a timer until
 * 2 ms before the due time, then spin on the clock (timers fire a
 * millisecond or more late); a request the order or the window holds back
 * past its due time is issued late, and that counts in the error too.
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
  /** Called after each exchange completes with the number done and the number read so far. */
  onProgress?: (done: number, total: number) => void;
  /** Receives each finished exchange in recorded order (then none is kept in the result). */
  onExchange?: (exchange: ReplayedExchange) => void;
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
  /** Every exchange, in recorded order (empty when they went to `onExchange`). */
  exchanges: ReplayedExchange[];
  /** Exchanges replayed. */
  total: number;
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
  /**
   * What the replay held: the most recorded exchanges in its window at once,
   * and at the end the ordering tables (resources, recorded names, uniques)
   * and the recorded nodes bound to target nodes.
   */
  held: { peakWindow: number; resources: number; names: number; uniques: number; nodes: number };
}

interface Step {
  ex: RecordedExchange;
  req: FuseRequest;
  reply: FuseReply | null;
  replyError?: string;
  /** The resources it was filed under in the planner (removed again when it is dropped). */
  keys: string[];
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
  const d = new StepDecoder(options.minor ?? 45);
  return exchanges.map((ex) => {
    const { req, reply, replyError } = d.decode(ex);
    return { ex, req, reply, replyError };
  });
}

/** Decodes recorded exchanges one at a time at the recorded minor (learnt from its INIT). */
class StepDecoder {
  codec: FuseCodecOptions;
  constructor(minor: number) {
    this.codec = { minor, setxattrExt: false };
  }
  decode(ex: RecordedExchange): Step {
    const req = decodeRequest(ex.request, this.codec);
    let reply: FuseReply | null = null;
    let replyError: string | undefined;
    if (ex.reply !== null) {
      try {
        reply = decodeReply(ex.reply, { request: req, ...this.codec });
      } catch (e) {
        replyError = e instanceof Error ? e.message : String(e);
      }
    }
    if (req.op === "INIT") this.codec = codecFromInit(req, reply, this.codec.minor ?? 45);
    return { ex, req, reply, replyError, keys: [], deps: [], barrier: false, detached: false };
  }
}

const BARRIER_OPS = new Set(["INIT", "DESTROY", "SYNCFS"]);
const MAX_TOUCHERS = 32;

/** The recorded-namespace resources a request touches (besides what its reply introduces). */
function requestKeys(req: FuseRequest, names: { get(key: string): bigint | undefined }): string[] {
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

/**
 * The recorded name table (parent/name → node), for ordering: kept up to date
 * from the recorded exchanges, and emptied of a node's names when the
 * recording forgets it, so it holds what the recorded kernel held.
 */
class RecordedNames {
  #names = new Map<string, bigint>();
  #byNode = new Map<bigint, Set<string>>();

  get(key: string): bigint | undefined {
    return this.#names.get(key);
  }

  #set(key: string, node: bigint): void {
    this.#delete(key);
    this.#names.set(key, node);
    let s = this.#byNode.get(node);
    if (s === undefined) this.#byNode.set(node, s = new Set());
    s.add(key);
  }

  #delete(key: string): bigint | undefined {
    const n = this.#names.get(key);
    if (n === undefined) return undefined;
    this.#names.delete(key);
    const s = this.#byNode.get(n);
    s?.delete(key);
    if (s?.size === 0) this.#byNode.delete(n);
    return n;
  }

  /** Drops every name of `node` (the recording forgot it). */
  forget(node: bigint): void {
    for (const key of this.#byNode.get(node) ?? []) this.#names.delete(key);
    this.#byNode.delete(node);
  }

  get size(): number {
    return this.#names.size;
  }

  learn(req: FuseRequest, reply: FuseReply | null): void {
    if (req.op === "FORGET") return this.forget(req.header.nodeid);
    if (req.op === "BATCH_FORGET") {
      for (const f of req.body.forgets) this.forget(f.nodeid);
      return;
    }
    if (reply === null || reply.header.error !== 0) return;
    const p = req.header.nodeid;
    const ids = replyNodeIds(reply);
    switch (req.op) {
      case "LOOKUP":
      case "MKDIR":
      case "MKNOD":
      case "CREATE":
      case "SYMLINK":
        if (ids.length === 1) this.#set(`${p}/${req.body.name}`, ids[0]);
        break;
      case "LINK":
        if (ids.length === 1) this.#set(`${p}/${req.body.newname}`, ids[0]);
        break;
      case "UNLINK":
      case "RMDIR":
        this.#delete(`${p}/${req.body.name}`);
        break;
      case "RENAME":
      case "RENAME2": {
        const n = this.#delete(`${p}/${req.body.oldname}`);
        if (n !== undefined) this.#set(`${req.body.newdir}/${req.body.newname}`, n);
        break;
      }
    }
  }
}

/**
 * Computes each step's dependencies (see the module doc) as steps arrive in
 * recorded order. It holds only the steps of the scheduler's window: a
 * dependency on a step already dropped is met (dropped steps are done), and
 * a dropped step leaves the resource lists it was filed under.
 */
class Planner {
  #touchers = new Map<string, number[]>();
  #names = new RecordedNames();
  #byUnique = new Map<bigint, number>();
  #lastBarrier = -1;
  #sinceBarrier: number[] = [];
  #step: (i: number) => Step | undefined;

  constructor(step: (i: number) => Step | undefined) {
    this.#step = step;
  }

  /** Plans step `i` (all earlier steps have been planned). */
  add(i: number, s: Step): void {
    const req = s.req;
    const deps = new Set<number>();
    const prev = this.#step(i - 1);
    if (prev?.req.op === "SETLKW" && prev.ex.replyTime !== undefined) {
      // blocked in the recording: this later request was issued before its reply
      if (prev.ex.replyTime > s.ex.time) prev.detached = true;
    }
    if (BARRIER_OPS.has(req.op)) {
      s.barrier = true;
      for (const j of this.#sinceBarrier) deps.add(j);
      if (this.#lastBarrier >= 0) deps.add(this.#lastBarrier);
      s.deps = [...deps];
      this.#lastBarrier = i;
      this.#sinceBarrier.length = 0;
      this.#byUnique.set(req.header.unique, i);
      this.#names.learn(req, s.reply);
      return;
    }
    if (this.#lastBarrier >= 0) deps.add(this.#lastBarrier);
    if (req.op === "INTERRUPT") {
      const target = this.#byUnique.get(req.body.unique);
      if (target !== undefined) s.after = target;
      s.deps = [...deps];
      this.#sinceBarrier.push(i);
      return;
    }
    const keys = requestKeys(req, this.#names);
    for (const n of replyNodeIds(s.reply)) keys.push(`n${n}`);
    const h = replyHandle(s.reply);
    if (h !== null) keys.push(`h${h}`);
    const isForget = req.op === "FORGET" || req.op === "BATCH_FORGET";
    const finishedBefore = (t: Step): boolean => {
      // unknown reply time: assume it finished (recorded order is then all we know)
      return t.ex.replyTime === undefined || t.ex.replyTime <= s.ex.time;
    };
    for (const k of keys) {
      const list = this.#touchers.get(k);
      if (list !== undefined && list.length > 0) {
        if (isForget) {
          for (const t of list) deps.add(t);
        } else {
          for (let j = list.length - 1; j >= 0; j--) {
            const t = this.#step(list[j]);
            if (t !== undefined && !t.detached && finishedBefore(t)) {
              deps.add(list[j]);
              break;
            }
          }
        }
      }
      if (isForget) {
        for (const t of list ?? []) this.#unfile(t, k);
        this.#touchers.set(k, [i]);
      } else {
        const l = list ?? [];
        l.push(i);
        if (l.length > MAX_TOUCHERS) l.shift();
        if (list === undefined) this.#touchers.set(k, l);
      }
    }
    s.keys = keys;
    s.deps = [...deps];
    this.#sinceBarrier.push(i);
    this.#byUnique.set(req.header.unique, i);
    this.#names.learn(req, s.reply);
  }

  #unfile(i: number, key: string): void {
    const s = this.#step(i);
    if (s !== undefined) s.keys = s.keys.filter((k) => k !== key);
  }

  /** Step `i` is done and leaves the window: forget it. */
  drop(i: number, s: Step): void {
    for (const k of s.keys) {
      const l = this.#touchers.get(k);
      if (l === undefined) continue;
      const at = l.indexOf(i);
      if (at >= 0) l.splice(at, 1);
      if (l.length === 0) this.#touchers.delete(k);
    }
    if (this.#byUnique.get(s.req.header.unique) === i) this.#byUnique.delete(s.req.header.unique);
    const at = this.#sinceBarrier.indexOf(i);
    if (at >= 0) this.#sinceBarrier.splice(at, 1);
  }

  /** What the planner holds (for tests of bounded memory). */
  get sizes(): { resources: number; names: number; uniques: number } {
    return {
      resources: this.#touchers.size,
      names: this.#names.size,
      uniques: this.#byUnique.size,
    };
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function nowNs(): number {
  return performance.now() * 1e6;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Exchanges `original` timing reads ahead of its window while it waits for a due time. */
const READ_AHEAD = 4096;

/** How close to a due time `original` timing stops sleeping and spins on the clock, ms. */
const SPIN_MS = 2;

/** Busy-waits until `nowNs()` reaches `dueNs`; at most SPIN_MS. */
function spinUntil(dueNs: number): void {
  const limit = performance.now() + SPIN_MS;
  while (nowNs() < dueNs && performance.now() < limit) {
    // spin: a timer would wake a millisecond or more late
  }
}

/**
 * Lateness figures in constant memory: the exact mean and maximum, and the
 * 99th percentile from a log-linear histogram (32 sub-buckets per power of
 * two: within about 3%).
 */
class LatenessStats {
  #counts = new Float64Array(64 * 32);
  #n = 0;
  #sum = 0;
  #max = 0;

  add(ns: number): void {
    const v = Math.max(0, ns);
    this.#n++;
    this.#sum += v;
    if (v > this.#max) this.#max = v;
    this.#counts[LatenessStats.bucket(v)]++;
  }

  /** Values below 32 ns have their own bucket; above, 32 buckets per power of two. */
  static bucket(v: number): number {
    if (v < 32) return Math.floor(v);
    const k = Math.floor(Math.log2(v)); // v in [2^k, 2^(k+1)), k >= 5
    const m = Math.min(63, Math.floor(v / 2 ** (k - 5))); // 32..63
    return Math.min(64 * 32 - 1, 32 + (k - 5) * 32 + (m - 32));
  }

  /** The smallest value of bucket `b`. */
  static lower(b: number): number {
    if (b < 32) return b;
    const k = Math.floor((b - 32) / 32) + 5;
    const m = ((b - 32) % 32) + 32;
    return m * 2 ** (k - 5);
  }

  result(): TimingError {
    if (this.#n === 0) return { meanNs: 0, p99Ns: 0, maxNs: 0 };
    const want = Math.ceil(0.99 * this.#n);
    let seen = 0;
    let p99 = this.#max;
    for (let b = 0; b < this.#counts.length; b++) {
      seen += this.#counts[b];
      if (seen >= want) {
        p99 = Math.min(this.#max, LatenessStats.lower(b + 1));
        break;
      }
    }
    return { meanNs: this.#sum / this.#n, p99Ns: p99, maxNs: this.#max };
  }
}

const DEFAULT_INIT_BODY: RequestBodies["INIT"] = (() => {
  const { flags, flags2 } = splitInitFlags(
    InitFlag.ASYNC_READ | InitFlag.POSIX_LOCKS | InitFlag.BIG_WRITES | InitFlag.DONT_MASK |
      InitFlag.DO_READDIRPLUS | InitFlag.FLOCK_LOCKS | InitFlag.MAX_PAGES | InitFlag.INIT_EXT,
  );
  return { major: 7, minor: 45, max_readahead: 131072, flags, flags2 };
})();

/** Exchanges from an array, an iterable or an async iterable, one at a time. */
function exchangeSource(
  source: Iterable<RecordedExchange> | AsyncIterable<RecordedExchange>,
): () => Promise<RecordedExchange | undefined> {
  if (Symbol.asyncIterator in source) {
    const it = (source as AsyncIterable<RecordedExchange>)[Symbol.asyncIterator]();
    return async () => {
      const r = await it.next();
      return r.done ? undefined : r.value;
    };
  }
  const it = (source as Iterable<RecordedExchange>)[Symbol.iterator]();
  return () => {
    const r = it.next();
    return Promise.resolve(r.done ? undefined : r.value);
  };
}

/**
 * Replays the recorded exchanges (in recorded order) against `target` and
 * returns both sides of every exchange. A capture without an INIT gets one
 * (7.45, the usual flags) before its first request.
 *
 * Memory: `exchanges` may be an async iterable read as the replay goes (a
 * capture being decoded); the replay then holds a window of at most
 * `max(64, 8 × concurrency)` recorded exchanges past the oldest one not yet
 * answered (with `original` timing, up to 4096 more read ahead while it
 * waits for a due time), the identity tables (bounded by what the target holds: nodes
 * until forgotten, handles until released), the recorded name table (until
 * the recording forgets each node), and a fixed-size timing histogram. With
 * `onExchange`, each finished exchange is handed over in recorded order and
 * not kept (`exchanges` of the result is then empty); without it every
 * exchange is kept in the result.
 */
export async function replay(
  exchanges: Iterable<RecordedExchange> | AsyncIterable<RecordedExchange>,
  target: ReplayTarget,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`speed must be above 0, found ${speed}`);
  const original = options.timing === "original";
  const keep = options.onExchange === undefined;
  const kept: ReplayedExchange[] = [];
  const next = exchangeSource(exchanges);
  const decoder = new StepDecoder(options.minor ?? 45);
  // the window: steps and results by index, from `firstUndone` up to `loaded`
  const steps = new Map<number, Step>();
  const results = new Map<number, ReplayedExchange>();
  const issued = new Set<number>();
  const done = new Set<number>();
  const planner = new Planner((i) => steps.get(i));
  let loaded = 0;
  let exhausted = false;
  let t0 = 0n;
  const window = Math.max(64, concurrency * 8);
  let peakWindow = 0;
  // exchanges read ahead of the window (not yet decoded), so that reading the capture is done
  // while the replay waits, not in the middle of a burst
  const ahead: (RecordedExchange | undefined)[] = [];
  let sourceDone = false;
  const pull = async (): Promise<RecordedExchange | undefined> => {
    if (ahead.length > 0) return ahead.shift();
    return sourceDone ? undefined : await next();
  };
  /** Reads ahead until `untilNs` (a nowNs() value) or READ_AHEAD exchanges are held. */
  const readAhead = async (untilNs: number) => {
    while (!sourceDone && ahead.length < READ_AHEAD && nowNs() < untilNs) {
      const ex = await next();
      if (ex === undefined) sourceDone = true;
      ahead.push(ex);
    }
  };
  /** Loads steps until `upTo` are loaded (or the source ends). */
  const fill = async (upTo: number) => {
    while (!exhausted && loaded < upTo) {
      const ex = await pull();
      if (ex === undefined) {
        exhausted = true;
        break;
      }
      const s = decoder.decode(ex);
      if (loaded === 0) t0 = ex.time;
      steps.set(loaded, s);
      planner.add(loaded, s);
      loaded++;
    }
    if (steps.size > peakWindow) peakWindow = steps.size;
  };
  await fill(1);

  const ids = new IdentityMap();
  const plus = new PlusBinder();
  let targetCodec: FuseCodecOptions = { minor: decoder.codec.minor, setxattrExt: false };
  let targetFlags = 0n;
  let nextUnique = 2n;
  let extraForgets = 0;
  const start = nowNs();
  const lateness = new LatenessStats();

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

  const first = steps.get(0);
  if (first === undefined || first.req.op !== "INIT") {
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
    const s = steps.get(i)!;
    const issuedNs = nowNs() - start;
    const recordedNs = Number(s.ex.time - t0);
    if (original) lateness.add(issuedNs - recordedNs / speed);
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
      results.set(i, {
        ...base,
        skipped: s.req.op === "INTERRUPT"
          ? "the interrupted request was not replayed"
          : "nothing to forget on the target",
      });
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
      results.set(i, { ...base, skipped: `cannot encode for the target: ${message(e)}` });
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
    results.set(i, { ...base, sent, targetReply, targetReplyError });
  };

  // scheduler: issue in recorded order as dependencies, the window and the clock allow
  let inFlight = 0;
  let firstUndone = 0;
  let firstUnissued = 0;
  let completed = 0;
  let wake: (() => void) | null = null;
  let failure: unknown = undefined;
  const ready = (i: number): boolean => {
    const s = steps.get(i)!;
    if (s.after !== undefined && s.after >= firstUndone && !issued.has(s.after)) return false;
    for (const d of s.deps) if (d >= firstUndone && !done.has(d)) return false;
    return true;
  };
  /** Hands over (or keeps) the finished steps at the front of the window and drops them. */
  const retire = () => {
    while (done.has(firstUndone)) {
      const i = firstUndone;
      const r = results.get(i);
      if (r !== undefined) {
        if (keep) kept.push(r);
        else options.onExchange!(r);
      }
      planner.drop(i, steps.get(i)!);
      steps.delete(i);
      results.delete(i);
      done.delete(i);
      issued.delete(i);
      firstUndone++;
    }
  };
  for (;;) {
    if (failure !== undefined) throw failure;
    retire();
    await fill(firstUndone + window + 1); // one past the window: a SETLKW needs its successor
    if (exhausted && firstUndone >= loaded) break;
    while (firstUnissued < loaded && (firstUnissued < firstUndone || issued.has(firstUnissued))) {
      firstUnissued++;
    }
    let launched = false;
    let waitMs = -1;
    let firstDue = -1;
    const end = Math.min(loaded, firstUndone + window);
    for (let i = firstUnissued; i < end && inFlight < concurrency; i++) {
      if (issued.has(i)) continue;
      if (original) {
        const due = Number(steps.get(i)!.ex.time - t0) / speed;
        const now = nowNs() - start;
        if (due > now) {
          waitMs = (due - now) / 1e6;
          firstDue = i;
          break; // later requests are due later still
        }
      }
      if (!ready(i)) {
        if (concurrency === 1) break; // strictly in order
        continue;
      }
      issued.add(i);
      launched = true;
      const detached = steps.get(i)!.detached;
      if (!detached) inFlight++;
      run(i).then(
        () => {
          done.add(i);
          completed++;
          if (!detached) inFlight--;
          options.onProgress?.(completed, exhausted ? loaded : Math.max(loaded, completed));
          wake?.();
        },
        (e) => {
          failure ??= e;
          done.add(i);
          completed++;
          if (!detached) inFlight--;
          wake?.();
        },
      );
      if (concurrency === 1 && !detached) break;
    }
    if (done.has(firstUndone)) continue;
    if (!launched && issued.size - done.size === 0 && waitMs < 0) {
      throw new Error(`replay scheduler stalled at request ${firstUnissued}`);
    }
    if (launched && inFlight < concurrency && waitMs < 0) {
      await Promise.resolve();
      continue;
    }
    if (waitMs >= 0 && waitMs <= SPIN_MS && !launched) {
      // the next request is due within SPIN_MS: timers fire a millisecond or more late, so
      // spin on the clock instead (bounded by SPIN_MS, so replies wait at most that long)
      spinUntil(start + Number(steps.get(firstDue)!.ex.time - t0) / speed);
      continue;
    }
    if (original && waitMs > SPIN_MS + 0.5 && !exhausted) {
      // idle until the next request is due: read the capture ahead meanwhile
      await readAhead(nowNs() + (waitMs - SPIN_MS - 0.5) * 1e6);
      continue;
    }
    const waiter = new Promise<void>((r) => (wake = r));
    if (waitMs >= 0) await Promise.race([waiter, sleep(Math.max(0, waitMs - SPIN_MS))]);
    else await waiter;
    wake = null;
  }
  if (failure !== undefined) throw failure;
  const durationNs = nowNs() - start;
  return {
    exchanges: kept,
    total: loaded,
    recordedMinor: decoder.codec.minor ?? 45,
    targetMinor: targetCodec.minor ?? 45,
    targetFlags,
    durationNs,
    timing: original ? lateness.result() : undefined,
    unmapped: { ...ids.unmapped },
    extraForgets,
    held: { peakWindow, ...planner.sizes, nodes: ids.boundNodes },
  };
}
