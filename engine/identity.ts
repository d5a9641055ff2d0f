/**
 * Identity translation for replay: the node ids, file handles, lock owners,
 * readdir cookies and uniques a capture holds are the recorded server's (or
 * client's) names for things; a replay target hands out its own. This table
 * learns each pair from the replies of both sides and translates every later
 * request, including the lookup counts that FORGET and BATCH_FORGET give back.
 *
 * Unknown recorded ids (the capture began mid-session, or the target failed
 * the request that would have introduced them) pass through unchanged and are
 * counted in {@linkcode IdentityMap.unmapped}.
 *
 * @example
 * ```ts
 * import { IdentityMap } from "./identity.ts";
 * const ids = new IdentityMap();
 * ids.learnEntry(7n, 42n); // recorded LOOKUP gave node 7, the target gave 42
 * console.log(ids.node(7n)); // 42n
 * console.log(ids.forget(7n, 1n)); // [{ nodeid: 42n, nlookup: 1n }]
 * ```
 *
 * @module
 */
import {
  FATTR,
  type FuseEntryOut,
  type FuseReply,
  type FuseRequest,
  type FuseRequestInit,
  GETATTR,
} from "../codecs/fuse/mod.ts";

/** How many recent request uniques {@linkcode IdentityMap.learnUnique} keeps. */
export const RECENT_UNIQUES = 4096;

/** The FUSE root node id, the same on every server. */
export const FUSE_ROOT_ID = 1n;

/** A forget to send to the target: its node id and how many lookups it gives back. */
export interface TargetForget {
  /** Target node id. */
  nodeid: bigint;
  /** Lookups given back. */
  nlookup: bigint;
}

interface NodeBinding {
  /** Lookups the recorded server counted (from the recorded replies). */
  recorded: bigint;
  /** Target node ids this recorded node was bound to, with the lookups the target counted for each. */
  targets: Map<bigint, bigint>;
  /** The most recent target id (what requests are sent with). */
  current: bigint;
}

/** Counts of ids that could not be translated. */
export interface UnmappedCounts {
  /** Node ids with no binding. */
  nodes: number;
  /** File handles with no binding. */
  handles: number;
}

/**
 * The recorded↔target identity table of one replay (see the module doc).
 */
export class IdentityMap {
  #nodes = new Map<bigint, NodeBinding>();
  #handles = new Map<bigint, bigint>();
  #owners = new Map<bigint, bigint>();
  #nextOwner = 1n;
  #cookies = new Map<bigint, Map<bigint, bigint>>();
  #uniques = new Map<bigint, bigint>();
  /** Ids used before any binding was learnt for them. */
  readonly unmapped: UnmappedCounts = { nodes: 0, handles: 0 };

  /** The target's node id for recorded node `recorded` (the root maps to itself; unknown ids pass through). */
  node(recorded: bigint): bigint {
    if (recorded === FUSE_ROOT_ID || recorded === 0n) return recorded;
    const b = this.#nodes.get(recorded);
    if (b === undefined) {
      this.unmapped.nodes++;
      return recorded;
    }
    return b.current;
  }

  /** True when a binding for recorded node `recorded` is known (the root always is). */
  hasNode(recorded: bigint): boolean {
    return recorded === FUSE_ROOT_ID || this.#nodes.has(recorded);
  }

  /**
   * Learns one lookup reference: the recorded reply introduced `recorded`
   * (or `null` when the recorded request failed) and the target's reply
   * introduced `target` (or `null`). Returns the target node ids whose
   * lookup has no recorded counterpart: the caller forgets them on the
   * target so its counts stay right.
   */
  learnEntry(recorded: bigint | null, target: bigint | null): bigint[] {
    const live = (n: bigint | null): n is bigint => n !== null && n !== 0n;
    if (!live(recorded)) return live(target) ? [target] : [];
    if (recorded === FUSE_ROOT_ID) {
      // a lookup of the root itself (`..` at the top): counted on both sides, never forgotten
      return live(target) && target !== FUSE_ROOT_ID ? [target] : [];
    }
    let b = this.#nodes.get(recorded);
    if (b === undefined) {
      b = { recorded: 0n, targets: new Map(), current: recorded };
      this.#nodes.set(recorded, b);
    }
    b.recorded += 1n;
    if (live(target)) {
      b.targets.set(target, (b.targets.get(target) ?? 0n) + 1n);
      b.current = target;
    }
    return [];
  }

  /**
   * Translates a recorded FORGET of `nlookup` references to `recorded` into
   * the forgets the target needs: when the recorded count reaches zero, every
   * reference the target gave for it is returned; otherwise as many as were
   * given back, taken from the oldest binding first.
   */
  forget(recorded: bigint, nlookup: bigint): TargetForget[] {
    const b = this.#nodes.get(recorded);
    if (b === undefined || recorded === FUSE_ROOT_ID) return [];
    b.recorded -= nlookup;
    const out: TargetForget[] = [];
    if (b.recorded <= 0n) {
      for (const [nodeid, n] of b.targets) if (n > 0n) out.push({ nodeid, nlookup: n });
      this.#nodes.delete(recorded);
      return out;
    }
    let left = nlookup;
    for (const [nodeid, n] of b.targets) {
      if (left === 0n) break;
      const take = n < left ? n : left;
      if (take > 0n) out.push({ nodeid, nlookup: take });
      left -= take;
      if (n - take === 0n && nodeid !== b.current) b.targets.delete(nodeid);
      else b.targets.set(nodeid, n - take);
    }
    return out;
  }

  /** Binds recorded file handle `recorded` to the target's `target`. */
  learnHandle(recorded: bigint, target: bigint): void {
    this.#handles.set(recorded, target);
  }

  /** The target's handle for recorded handle `recorded` (unknown handles pass through). */
  handle(recorded: bigint): bigint {
    const t = this.#handles.get(recorded);
    if (t === undefined) {
      this.unmapped.handles++;
      return recorded;
    }
    return t;
  }

  /** Forgets a released handle (and the readdir cookies learnt on it). */
  dropHandle(recorded: bigint): void {
    this.#handles.delete(recorded);
    this.#cookies.delete(recorded);
  }

  /** The lock owner to send for recorded owner `recorded`: 0 stays 0, others get stable fresh values. */
  owner(recorded: bigint): bigint {
    if (recorded === 0n) return 0n;
    let t = this.#owners.get(recorded);
    if (t === undefined) {
      t = this.#nextOwner++;
      this.#owners.set(recorded, t);
    }
    return t;
  }

  /** Binds a readdir cookie on recorded handle `fh`: recorded offset `recorded` continues at target offset `target`. */
  learnCookie(fh: bigint, recorded: bigint, target: bigint): void {
    let m = this.#cookies.get(fh);
    if (m === undefined) {
      m = new Map();
      this.#cookies.set(fh, m);
    }
    m.set(recorded, target);
  }

  /** The target offset for a recorded READDIR offset on recorded handle `fh` (0 and unknown offsets pass through). */
  cookie(fh: bigint, recorded: bigint): bigint {
    if (recorded === 0n) return 0n;
    return this.#cookies.get(fh)?.get(recorded) ?? recorded;
  }

  /**
   * Binds a recorded request unique to the unique it was replayed with (for
   * INTERRUPT). Only the latest {@linkcode RECENT_UNIQUES} are kept: an
   * INTERRUPT follows its request closely, and the table stays bounded on a
   * long replay.
   */
  learnUnique(recorded: bigint, target: bigint): void {
    this.#uniques.delete(recorded);
    this.#uniques.set(recorded, target);
    if (this.#uniques.size > RECENT_UNIQUES) {
      this.#uniques.delete(this.#uniques.keys().next().value!);
    }
  }

  /** The replayed unique of recorded request `recorded`, or `undefined` when it was not replayed. */
  unique(recorded: bigint): bigint | undefined {
    return this.#uniques.get(recorded);
  }

  /** Number of recorded nodes currently bound. */
  get boundNodes(): number {
    return this.#nodes.size;
  }
}

/** Options of {@linkcode translateRequest}. */
export interface TranslateOptions {
  /** The unique to send the request with. */
  unique: bigint;
}

function fhIf(ids: IdentityMap, flag: boolean, fh: bigint): bigint {
  return flag ? ids.handle(fh) : fh;
}

/**
 * Rewrites a recorded request for the target: header node id, every node
 * id, handle, lock owner and readdir cookie in the body, and the unique.
 * Returns `null` when nothing is to be sent (a FORGET of a node the target
 * never counted). FORGET with several target bindings becomes BATCH_FORGET.
 */
export function translateRequest(
  req: FuseRequest,
  ids: IdentityMap,
  options: TranslateOptions,
): FuseRequestInit | null {
  const h = req.header;
  const header = {
    unique: options.unique,
    nodeid: req.op === "INIT" ? h.nodeid : ids.node(h.nodeid),
    uid: h.uid,
    gid: h.gid,
    pid: h.pid,
  };
  const ext = req.extensions;
  const out = (body: unknown): FuseRequestInit =>
    ({ op: req.op, header, body, extensions: ext }) as FuseRequestInit;
  switch (req.op) {
    case "FORGET": {
      const forgets = ids.forget(h.nodeid, req.body.nlookup);
      if (forgets.length === 0) return null;
      if (forgets.length === 1) {
        return {
          op: "FORGET",
          header: { ...header, nodeid: forgets[0].nodeid },
          body: { nlookup: forgets[0].nlookup },
        };
      }
      return {
        op: "BATCH_FORGET",
        header: { ...header, nodeid: 0n },
        body: { count: forgets.length, dummy: 0, forgets },
      };
    }
    case "BATCH_FORGET": {
      const forgets = req.body.forgets.flatMap((f) => ids.forget(f.nodeid, f.nlookup));
      if (forgets.length === 0) return null;
      return out({ count: forgets.length, dummy: 0, forgets });
    }
    case "GETATTR":
      return out({
        ...req.body,
        fh: fhIf(ids, (req.body.getattr_flags & GETATTR.FUSE_GETATTR_FH) !== 0, req.body.fh),
      });
    case "STATX":
      return out({
        ...req.body,
        fh: fhIf(ids, (req.body.getattr_flags & GETATTR.FUSE_GETATTR_FH) !== 0, req.body.fh),
      });
    case "SETATTR": {
      const v = req.body.valid;
      return out({
        ...req.body,
        fh: fhIf(ids, (v & FATTR.FATTR_FH) !== 0, req.body.fh),
        lock_owner: (v & FATTR.FATTR_LOCKOWNER) !== 0
          ? ids.owner(req.body.lock_owner)
          : req.body.lock_owner,
      });
    }
    case "RENAME":
    case "RENAME2":
      return out({ ...req.body, newdir: ids.node(req.body.newdir) });
    case "LINK":
      return out({ ...req.body, oldnodeid: ids.node(req.body.oldnodeid) });
    case "READ":
    case "WRITE":
    case "RELEASE":
    case "RELEASEDIR":
    case "FLUSH":
      return out({
        ...req.body,
        fh: ids.handle(req.body.fh),
        lock_owner: ids.owner(req.body.lock_owner),
      });
    case "READDIR":
    case "READDIRPLUS":
      return out({
        ...req.body,
        fh: ids.handle(req.body.fh),
        offset: ids.cookie(req.body.fh, req.body.offset),
        lock_owner: ids.owner(req.body.lock_owner),
      });
    case "FSYNC":
    case "FSYNCDIR":
    case "FALLOCATE":
    case "LSEEK":
    case "POLL":
    case "IOCTL":
    case "SETUPMAPPING":
      return out({ ...req.body, fh: ids.handle(req.body.fh) });
    case "GETLK":
    case "SETLK":
    case "SETLKW":
      return out({ ...req.body, fh: ids.handle(req.body.fh), owner: ids.owner(req.body.owner) });
    case "COPY_FILE_RANGE":
    case "COPY_FILE_RANGE_64":
      return out({
        ...req.body,
        fh_in: ids.handle(req.body.fh_in),
        fh_out: ids.handle(req.body.fh_out),
        nodeid_out: ids.node(req.body.nodeid_out),
      });
    case "INTERRUPT": {
      const u = ids.unique(req.body.unique);
      return u === undefined ? null : out({ unique: u });
    }
    case "UNKNOWN":
      return {
        op: "UNKNOWN",
        header: { ...header, opcode: h.opcode },
        body: req.body,
        extensions: ext,
      };
    default:
      return out(req.body);
  }
}

function entryOf(r: FuseReply | null): FuseEntryOut | null {
  if (r === null || r.header.error !== 0 || r.body === null) return null;
  switch (r.op) {
    case "LOOKUP":
    case "MKNOD":
    case "MKDIR":
    case "SYMLINK":
    case "LINK":
      return r.body;
    case "CREATE":
    case "TMPFILE":
      return r.body.entry;
    default:
      return null;
  }
}

function handleOf(r: FuseReply | null): bigint | null {
  if (r === null || r.header.error !== 0 || r.body === null) return null;
  switch (r.op) {
    case "OPEN":
    case "OPENDIR":
      return r.body.fh;
    case "CREATE":
    case "TMPFILE":
      return r.body.open.fh;
    default:
      return null;
  }
}

/** The node ids a reply introduces (entry replies, READDIRPLUS entries), each one lookup. */
export function replyNodeIds(r: FuseReply | null): bigint[] {
  const e = entryOf(r);
  if (e !== null) return e.nodeid === 0n ? [] : [e.nodeid];
  if (r?.op === "READDIRPLUS" && r.body !== null) {
    return r.body.entries.map((d) => d.entry_out.nodeid).filter((n) => n !== 0n);
  }
  return [];
}

/** The file handle a reply introduces (OPEN, OPENDIR, CREATE, TMPFILE), or null. */
export function replyHandle(r: FuseReply | null): bigint | null {
  return handleOf(r);
}

function lastOff(r: FuseReply | null): bigint | null {
  if (r === null || r.body === null) return null;
  if (r.op === "READDIR") {
    const e = r.body.entries;
    return e.length === 0 ? null : e[e.length - 1].off;
  }
  if (r.op === "READDIRPLUS") {
    const e = r.body.entries;
    return e.length === 0 ? null : e[e.length - 1].dirent.off;
  }
  return null;
}

/** Per-directory-handle READDIRPLUS entries waiting for their counterpart (chunking may differ). */
export class PlusBinder {
  #recorded = new Map<bigint, Map<string, bigint>>();
  #target = new Map<bigint, Map<string, bigint>>();

  /** Adds one side's entries for recorded handle `fh`; returns the pairs now bound (recorded, target). */
  add(fh: bigint, side: "recorded" | "target", entries: [string, bigint][]): [bigint, bigint][] {
    const mine = side === "recorded" ? this.#recorded : this.#target;
    const other = side === "recorded" ? this.#target : this.#recorded;
    let m = mine.get(fh);
    if (m === undefined) mine.set(fh, m = new Map());
    const o = other.get(fh);
    const bound: [bigint, bigint][] = [];
    for (const [name, id] of entries) {
      const match = o?.get(name);
      if (match !== undefined) {
        o!.delete(name);
        bound.push(side === "recorded" ? [id, match] : [match, id]);
      } else m.set(name, id);
    }
    return bound;
  }

  /**
   * Ends a handle: returns the node ids never matched, recorded ones (each
   * one recorded lookup) and target ones (each one target lookup, to forget).
   */
  close(fh: bigint): { recordedOnly: bigint[]; targetOnly: bigint[] } {
    const targetOnly = [...(this.#target.get(fh)?.values() ?? [])];
    const recordedOnly = [...(this.#recorded.get(fh)?.values() ?? [])];
    this.#target.delete(fh);
    this.#recorded.delete(fh);
    return { recordedOnly, targetOnly };
  }
}

function plusEntries(r: FuseReply | null): [string, bigint][] {
  if (r?.op !== "READDIRPLUS" || r.body === null) return [];
  const out: [string, bigint][] = [];
  for (const d of r.body.entries) {
    if (d.entry_out.nodeid !== 0n) out.push([d.dirent.name.text, d.entry_out.nodeid]);
  }
  return out;
}

/**
 * Learns from one replayed exchange: node ids (entry replies, READDIRPLUS),
 * handles, readdir cookies; drops released handles. `recorded` is the
 * recorded request, `recordedReply` its recorded reply, `targetReply` the
 * target's. Returns target node ids (one lookup each) with no recorded
 * counterpart, which the caller should forget on the target.
 */
export function learnReply(
  ids: IdentityMap,
  plus: PlusBinder,
  exchange: {
    recorded: FuseRequest;
    recordedReply: FuseReply | null;
    targetReply: FuseReply | null;
  },
): bigint[] {
  const { recorded: req, recordedReply: rr, targetReply: tr } = exchange;
  const extra: bigint[] = [];
  if (req.op === "READDIRPLUS") {
    const fh = req.body.fh;
    for (const [r, t] of plus.add(fh, "recorded", plusEntries(rr))) ids.learnEntry(r, t);
    for (const [r, t] of plus.add(fh, "target", plusEntries(tr))) ids.learnEntry(r, t);
  } else {
    const re = entryOf(rr);
    const te = entryOf(tr);
    if (re !== null || te !== null) {
      extra.push(...ids.learnEntry(re?.nodeid ?? null, te?.nodeid ?? null));
    }
  }
  const rh = handleOf(rr);
  const th = handleOf(tr);
  if (rh !== null && th !== null) ids.learnHandle(rh, th);
  if (req.op === "READDIR" || req.op === "READDIRPLUS") {
    const ro = lastOff(rr);
    const to = lastOff(tr);
    if (ro !== null && to !== null) ids.learnCookie(req.body.fh, ro, to);
  }
  if (req.op === "RELEASE") ids.dropHandle(req.body.fh);
  if (req.op === "RELEASEDIR") {
    const { recordedOnly, targetOnly } = plus.close(req.body.fh);
    for (const r of recordedOnly) ids.learnEntry(r, null);
    extra.push(...targetOnly);
    ids.dropHandle(req.body.fh);
  }
  return extra;
}
