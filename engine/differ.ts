/**
 * The differ: compares what a recorded session's server answered with what a
 * replay target (or a second recording of the same workload) answered,
 * request by request, and says which field of which request diverged.
 *
 * Compared per request: the error code; the reply size (except directory
 * listings, whose chunking may legitimately differ); READ, READLINK,
 * GETXATTR and LISTXATTR data (xattr name lists as sets); WRITE and
 * COPY_FILE_RANGE sizes; LSEEK offsets; GETLK ranges; attributes (mode,
 * size, nlink, uid, gid) in entry, attr and statx replies. Directory
 * listings are compared per open directory handle, all chunks together, as
 * sets of (name, type) unless `ordered`. Inode numbers, times, generation,
 * blocks, rdev and open flags are normalised unless `strict`. Node ids and
 * handles are never compared: they are identities, translated by replay.
 *
 * @example
 * ```ts ignore
 * import { diffExchanges } from "./differ.ts";
 * const report = diffExchanges(result.exchanges);
 * console.log(report.matched, report.diverged, report.missing);
 * ```
 *
 * @module
 */
import {
  errorName,
  type FuseAttr,
  type FuseName,
  type FuseReply,
  type FuseRequest,
  modeString,
  nameText,
  summarizeRequest,
} from "../codecs/fuse/mod.ts";
import { replyNodeIds } from "./identity.ts";
import type { ReplayedExchange } from "./replayer.ts";

/** Options of {@linkcode diffExchanges}. */
export interface DiffOptions {
  /** Also compare inode numbers, times, generation, blocks, rdev, open flags and listing order. */
  strict?: boolean;
  /** Compare directory listings in order (default: as sets). */
  ordered?: boolean;
  /** Earlier operations on the same inode to show with each divergence (default 4). */
  contextDepth?: number;
  /** Most divergences (and missing exchanges) listed; the counts go on (default 10,000). */
  maxListed?: number;
}

/** One field of one request that came out different. */
export interface Divergence {
  /** The recorded request's frame number (`seq`). */
  seq: number;
  /** Its position in the session. */
  index: number;
  /** Opcode name. */
  op: string;
  /** The recorded node id the request addressed. */
  nodeid: bigint;
  /** The request's key arguments (`name="a.txt"`). */
  args: string;
  /** Which field: `error`, `size`, `data`, `attr.mode`, `listing`, ... */
  field: string;
  /** What the recording holds. */
  expected: string;
  /** What the target answered. */
  actual: string;
  /** The earlier operations on the same inode, oldest first (`#12 LOOKUP name="a" → OK`). */
  context: string[];
}

/** An exchange that could not be compared. */
export interface MissingExchange {
  /** The recorded request's `seq`. */
  seq: number;
  /** Opcode name. */
  op: string;
  /** Why. */
  reason: string;
}

/** What {@linkcode diffExchanges} found. */
export interface DiffReport {
  /** Exchanges looked at. */
  total: number;
  /** Exchanges whose replies agree (after normalisation). */
  matched: number;
  /** Exchanges with at least one divergence. */
  diverged: number;
  /** Exchanges that could not be compared (no reply on one side, not sent). */
  missing: number;
  /** Every divergence, in session order. */
  divergences: Divergence[];
  /** Every exchange that could not be compared. */
  missingList: MissingExchange[];
  /** Divergences and missing exchanges counted but not listed (beyond `maxListed`). */
  omitted: number;
  /** True when nothing diverged and nothing is missing. */
  equivalent: boolean;
}

const NO_REPLY_OPS = new Set(["FORGET", "BATCH_FORGET", "NOTIFY_REPLY", "INTERRUPT"]);
const NOT_COMPARED_BODY = new Set(["INIT", "STATFS", "DESTROY"]);

function hex(b: Uint8Array, max = 16): string {
  let s = "";
  for (let i = 0; i < Math.min(b.length, max); i++) s += b[i].toString(16).padStart(2, "0");
  return b.length > max ? `${s}…` : s;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function dataText(b: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    const s = text.decode(b);
    if ([...s].every((ch) => ch === "\t" || ch === "\n" || (ch >= " " && ch <= "~"))) {
      return JSON.stringify(s.length > 48 ? `${s.slice(0, 48)}…` : s);
    }
  } catch {
    // binary
  }
  return `0x${hex(b)}`;
}

/** Compares two byte strings; returns expected/actual descriptions when they differ. */
function compareData(expected: Uint8Array, actual: Uint8Array): [string, string] | null {
  const at = firstDifference(expected, actual);
  if (at < 0) return null;
  const e = `${expected.length} bytes, at ${at}: ${dataText(expected.subarray(at, at + 48))}`;
  const a = `${actual.length} bytes, at ${at}: ${dataText(actual.subarray(at, at + 48))}`;
  return [e, a];
}

function xattrNames(v: Uint8Array): string[] {
  return new TextDecoder().decode(v).split("\0").filter((s) => s !== "").sort();
}

function attrFields(strict: boolean): (keyof FuseAttr)[] {
  const f: (keyof FuseAttr)[] = ["mode", "size", "nlink", "uid", "gid"];
  if (strict) f.push("ino", "rdev", "blocks", "mtime", "mtimensec", "ctime", "ctimensec");
  return f;
}

function show(field: string, v: unknown): string {
  if (field === "mode" && typeof v === "number") return `${v.toString(8)} (${modeString(v)})`;
  return String(v);
}

interface Found {
  field: string;
  expected: string;
  actual: string;
}

function compareAttr(
  prefix: string,
  e: FuseAttr,
  a: FuseAttr,
  strict: boolean,
  out: Found[],
): void {
  for (const f of attrFields(strict)) {
    if (e[f] !== a[f]) {
      out.push({ field: `${prefix}.${f}`, expected: show(f, e[f]), actual: show(f, a[f]) });
    }
  }
}

interface Listing {
  nodeid: bigint;
  seq: number;
  index: number;
  op: string;
  args: string;
  expected: string[];
  actual: string[];
  /** One side answered with an error at some point: the listing is not compared. */
  broken: boolean;
}

function listingEntries(r: FuseReply | null): string[] {
  if (r === null || r.body === null) return [];
  if (r.op === "READDIR") return r.body.entries.map((d) => `${d.name}:${d.type}`);
  if (r.op === "READDIRPLUS") return r.body.entries.map((d) => `${d.dirent.name}:${d.dirent.type}`);
  return [];
}

const DT_NAMES: Record<string, string> = {
  "1": "fifo",
  "2": "chr",
  "4": "dir",
  "6": "blk",
  "8": "file",
  "10": "symlink",
  "12": "sock",
};

function entryText(e: string): string {
  const i = e.lastIndexOf(":");
  return `${e.slice(0, i)} (${DT_NAMES[e.slice(i + 1)] ?? `type ${e.slice(i + 1)}`})`;
}

/** Compares the bodies of two successful replies to `req`; pushes what differs. */
function compareBodies(
  req: FuseRequest,
  e: FuseReply,
  a: FuseReply,
  strict: boolean,
  out: Found[],
): void {
  if (e.op !== a.op || e.body === null || a.body === null) return;
  switch (e.op) {
    case "LOOKUP":
    case "MKNOD":
    case "MKDIR":
    case "SYMLINK":
    case "LINK": {
      const ab = a.body as typeof e.body;
      if ((e.body.nodeid === 0n) !== (ab.nodeid === 0n)) {
        out.push({
          field: "nodeid",
          expected: e.body.nodeid === 0n ? "0 (negative entry)" : "an entry",
          actual: ab.nodeid === 0n ? "0 (negative entry)" : "an entry",
        });
        return;
      }
      if (e.body.nodeid !== 0n) compareAttr("attr", e.body.attr, ab.attr, strict, out);
      if (strict && e.body.generation !== ab.generation) {
        out.push({
          field: "generation",
          expected: String(e.body.generation),
          actual: String(ab.generation),
        });
      }
      return;
    }
    case "CREATE":
    case "TMPFILE": {
      const ab = a.body as typeof e.body;
      compareAttr("attr", e.body.entry.attr, ab.entry.attr, strict, out);
      if (strict && e.body.open.open_flags !== ab.open.open_flags) {
        out.push({
          field: "open_flags",
          expected: String(e.body.open.open_flags),
          actual: String(ab.open.open_flags),
        });
      }
      return;
    }
    case "GETATTR":
    case "SETATTR": {
      const ab = a.body as typeof e.body;
      compareAttr("attr", e.body.attr, ab.attr, strict, out);
      return;
    }
    case "STATX": {
      const ab = a.body as typeof e.body;
      for (const f of ["mode", "size", "nlink", "uid", "gid"] as const) {
        if (e.body.stat[f] !== ab.stat[f]) {
          out.push({
            field: `stat.${f}`,
            expected: show(f, e.body.stat[f]),
            actual: show(f, ab.stat[f]),
          });
        }
      }
      return;
    }
    case "OPEN":
    case "OPENDIR": {
      const ab = a.body as typeof e.body;
      if (strict && e.body.open_flags !== ab.open_flags) {
        out.push({
          field: "open_flags",
          expected: String(e.body.open_flags),
          actual: String(ab.open_flags),
        });
      }
      return;
    }
    case "READ": {
      const d = compareData(e.body.data, (a.body as typeof e.body).data);
      if (d !== null) out.push({ field: "data", expected: d[0], actual: d[1] });
      return;
    }
    case "READLINK": {
      const al = (a.body as typeof e.body).link;
      if (e.body.link.text !== al.text) {
        out.push({
          field: "link",
          expected: JSON.stringify(e.body.link),
          actual: JSON.stringify(al),
        });
      }
      return;
    }
    case "GETXATTR":
    case "LISTXATTR": {
      const ab = a.body as typeof e.body;
      if (e.body.value === null || ab.value === null) {
        if (e.body.size !== ab.size) {
          out.push({ field: "size", expected: String(e.body.size), actual: String(ab.size) });
        }
        return;
      }
      if (e.op === "LISTXATTR") {
        const en = xattrNames(e.body.value).join(",");
        const an = xattrNames(ab.value).join(",");
        if (en !== an) out.push({ field: "names", expected: en, actual: an });
        return;
      }
      const d = compareData(e.body.value, ab.value);
      if (d !== null) out.push({ field: "value", expected: d[0], actual: d[1] });
      return;
    }
    case "WRITE":
    case "COPY_FILE_RANGE": {
      const as = (a.body as typeof e.body).size;
      if (e.body.size !== as) {
        out.push({ field: "size", expected: String(e.body.size), actual: String(as) });
      }
      return;
    }
    case "COPY_FILE_RANGE_64": {
      const ab = (a.body as typeof e.body).bytes_copied;
      if (e.body.bytes_copied !== ab) {
        out.push({
          field: "bytes_copied",
          expected: String(e.body.bytes_copied),
          actual: String(ab),
        });
      }
      return;
    }
    case "LSEEK": {
      const ao = (a.body as typeof e.body).offset;
      if (e.body.offset !== ao) {
        out.push({ field: "offset", expected: String(e.body.offset), actual: String(ao) });
      }
      return;
    }
    case "GETLK": {
      const el = e.body.lk;
      const al = (a.body as typeof e.body).lk;
      const es = `type=${el.type} ${el.start}-${el.end}`;
      const as = `type=${al.type} ${al.start}-${al.end}`;
      if (es !== as) out.push({ field: "lk", expected: es, actual: as });
      return;
    }
    default:
      void req;
      return;
  }
}

/**
 * The differ as it goes: {@linkcode ExchangeDiffer.add} each exchange in
 * session order, then {@linkcode ExchangeDiffer.finish}. It holds the
 * context lines of nodes the recording still holds (dropped at FORGET), the
 * open directory listings, and at most `maxListed` divergences and missing
 * exchanges (the counts go on). Listings are compared when their directory handle is released (or
 * at the end).
 */
export function createDiffer(options: DiffOptions = {}): ExchangeDiffer {
  const strict = options.strict ?? false;
  const ordered = options.ordered ?? strict;
  const depth = options.contextDepth ?? 4;
  const history = new Map<bigint, string[]>();
  const fhNode = new Map<bigint, bigint>();
  const listings = new Map<bigint, Listing>();
  const divergences: Divergence[] = [];
  const missingList: MissingExchange[] = [];
  const divergedIndex = new Set<number>();
  const maxListed = options.maxListed ?? 10_000;
  let total = 0;
  let missingCount = 0;
  let omitted = 0;
  const addDivergence = (d: Divergence) => {
    if (divergences.length < maxListed) divergences.push(d);
    else omitted++;
  };

  const contextOf = (node: bigint): string[] => [...(history.get(node) ?? [])];
  const remember = (node: bigint, line: string) => {
    if (node === 0n) return;
    let h = history.get(node);
    if (h === undefined) history.set(node, h = []);
    h.push(line);
    if (h.length > depth) h.shift();
  };
  const closeListing = (fh: bigint) => {
    const l = listings.get(fh);
    if (l === undefined) return;
    listings.delete(fh);
    if (l.broken) return;
    const e = ordered ? l.expected : [...l.expected].sort();
    const a = ordered ? l.actual : [...l.actual].sort();
    if (e.join("\0") === a.join("\0")) return;
    const es = new Set(e);
    const as = new Set(a);
    const gone = e.filter((x) => !as.has(x)).map(entryText);
    const extra = a.filter((x) => !es.has(x)).map(entryText);
    const detail = gone.length === 0 && extra.length === 0
      ? ["same entries in another order", `order ${a.map(entryText).join(", ")}`]
      : [
        gone.length === 0 ? "-" : `has ${gone.join(", ")}`,
        extra.length === 0 ? "-" : `has ${extra.join(", ")}`,
      ];
    addDivergence({
      seq: l.seq,
      index: l.index,
      op: l.op,
      nodeid: l.nodeid,
      args: l.args,
      field: "listing",
      expected: ordered && gone.length === 0 && extra.length === 0
        ? `order ${e.map(entryText).join(", ")}`
        : detail[0],
      actual: detail[1],
      context: contextOf(l.nodeid),
    });
    divergedIndex.add(l.index);
  };

  return {
    add(x: ReplayedExchange): void {
      total++;
      const req = x.recorded;
      const op = req.op;
      let node = req.header.nodeid;
      if ("fh" in req.body && typeof req.body.fh === "bigint" && op !== "GETATTR") {
        node = fhNode.get(req.body.fh) ?? node;
      }
      const args = summarizeRequest(req);
      const found: Found[] = [];
      let missing: string | undefined;
      const e = x.recordedReply;
      const a = x.targetReply;
      if (x.skipped !== undefined) {
        if (!NO_REPLY_OPS.has(op)) missing = `not sent: ${x.skipped}`;
      } else if (NO_REPLY_OPS.has(op)) {
        // nothing to compare unless both answered (an INTERRUPT answered EAGAIN)
        if (e !== null && a !== null && e.header.error !== a.header.error) {
          found.push({
            field: "error",
            expected: errorName(e.header.error),
            actual: errorName(a.header.error),
          });
        }
      } else if (x.recordedReplyError !== undefined) {
        missing = `recorded reply does not decode: ${x.recordedReplyError}`;
      } else if (e === null) {
        missing = "no reply in the recording";
      } else if (x.targetReplyError !== undefined) {
        found.push({ field: "reply", expected: "a valid reply", actual: x.targetReplyError });
      } else if (a === null) {
        missing = "the target sent no reply";
      } else if (
        x.sent !== null && op !== "INIT" && requestArgs(req) !== requestArgs(x.sent)
      ) {
        // the two sides were asked different things: their replies say nothing more
        found.push({ field: "request", expected: requestArgs(req)!, actual: requestArgs(x.sent)! });
      } else if (e.header.error !== a.header.error) {
        found.push({
          field: "error",
          expected: errorName(e.header.error),
          actual: errorName(a.header.error),
        });
      } else if (e.header.error === 0) {
        const listing = op === "READDIR" || op === "READDIRPLUS";
        if (!listing && !NOT_COMPARED_BODY.has(op) && e.header.len !== a.header.len) {
          found.push({
            field: "size",
            expected: String(e.header.len),
            actual: String(a.header.len),
          });
        }
        if (!NOT_COMPARED_BODY.has(op)) compareBodies(req, e, a, strict, found);
      }
      // directory listings, per handle
      if ((op === "READDIR" || op === "READDIRPLUS") && x.skipped === undefined) {
        const fh = req.body.fh;
        let l = listings.get(fh);
        if (l === undefined) {
          l = {
            nodeid: node,
            seq: x.seq,
            index: x.index,
            op,
            args,
            expected: [],
            actual: [],
            broken: false,
          };
          listings.set(fh, l);
        }
        l.seq = x.seq;
        l.index = x.index;
        if (e === null || a === null || e.header.error !== 0 || a.header.error !== 0) {
          l.broken = true;
        }
        l.expected.push(...listingEntries(e));
        l.actual.push(...listingEntries(a));
      }
      if (op === "RELEASEDIR") closeListing(req.body.fh);

      if (missing !== undefined) {
        missingCount++;
        if (missingList.length < maxListed) missingList.push({ seq: x.seq, op, reason: missing });
        else omitted++;
      } else if (found.length > 0) {
        const context = contextOf(node);
        for (const f of found) {
          addDivergence({ seq: x.seq, index: x.index, op, nodeid: node, args, ...f, context });
        }
        divergedIndex.add(x.index);
      }

      // history for later context
      const result = e === null ? "no reply" : errorName(e.header.error);
      const line = `#${x.seq} ${op}${args === "" ? "" : ` ${args}`} → ${result}`;
      remember(node, line);
      for (const n of replyNodeIds(e)) if (n !== node) remember(n, line);
      if (e !== null && e.header.error === 0 && e.body !== null) {
        if (e.op === "OPEN" || e.op === "OPENDIR") fhNode.set(e.body.fh, req.header.nodeid);
        if (e.op === "CREATE" || e.op === "TMPFILE") {
          fhNode.set(e.body.open.fh, e.body.entry.nodeid);
        }
      }
      // what the recording no longer holds is not kept either
      if (op === "FORGET") history.delete(req.header.nodeid);
      if (req.op === "BATCH_FORGET") { for (const f of req.body.forgets) history.delete(f.nodeid); }
      if (req.op === "RELEASE" || req.op === "RELEASEDIR") fhNode.delete(req.body.fh);
    },
    finish(): DiffReport {
      for (const fh of [...listings.keys()]) closeListing(fh);
      divergences.sort((p, q) => p.index - q.index);
      // an exchange whose listing diverged was counted matched on its own reply: move it
      const diverged = divergedIndex.size;
      return {
        total,
        matched: Math.max(0, total - missingCount - diverged),
        diverged,
        missing: missingCount,
        divergences,
        missingList,
        omitted,
        equivalent: diverged === 0 && missingCount === 0,
      };
    },
  };
}

/**
 * Compares every exchange of a replay (or of two recordings) and returns the
 * report. Listings are compared when their directory handle is released (or
 * at the end).
 */
export function diffExchanges(
  exchanges: Iterable<ReplayedExchange>,
  options: DiffOptions = {},
): DiffReport {
  const d = createDiffer(options);
  for (const x of exchanges) d.add(x);
  return d.finish();
}

/** An incremental differ ({@linkcode createDiffer}). */
export interface ExchangeDiffer {
  /** Compares one more exchange (session order). */
  add(x: ReplayedExchange): void;
  /** Closes open listings and returns the report. */
  finish(): DiffReport;
}

/**
 * The arguments of a request that say what the workload asked for (not the
 * ids the server handed out): compared for every pair, so two recordings
 * whose programs wrote different bytes, or a replay that sent something else,
 * diverge on `request`. `null` for requests with nothing to compare.
 */
export function requestArgs(req: FuseRequest): string | null {
  switch (req.op) {
    case "READ":
      return `offset=${req.body.offset} size=${req.body.size}`;
    case "WRITE":
      return `offset=${req.body.offset} size=${req.body.size} data=${digest(req.body.data)}`;
    case "SETATTR": {
      const b = req.body;
      const parts = [`valid=${b.valid & ~(FATTR_FH | FATTR_LOCKOWNER | TIME_BITS)}`];
      if (b.valid & FATTR_SIZE) parts.push(`size=${b.size}`);
      if (b.valid & FATTR_MODE) parts.push(`mode=${b.mode.toString(8)}`);
      if (b.valid & FATTR_UID) parts.push(`uid=${b.uid}`);
      if (b.valid & FATTR_GID) parts.push(`gid=${b.gid}`);
      return parts.join(" ");
    }
    case "SETXATTR":
      return `value=${digest(req.body.value)} flags=${req.body.flags}`;
    case "CREATE":
    case "TMPFILE":
      return `flags=0${req.body.flags.toString(8)} mode=${req.body.mode.toString(8)}`;
    case "MKDIR":
    case "MKNOD":
      return `mode=${req.body.mode.toString(8)}`;
    case "SYMLINK":
      return `target=${nameText(req.body.linkname)}`;
    case "RENAME2":
      return `flags=${req.body.flags}`;
    case "FALLOCATE":
      return `offset=${req.body.offset} length=${req.body.length} mode=${req.body.mode}`;
    default:
      return null;
  }
}

const FATTR_MODE = 1 << 0;
const FATTR_UID = 1 << 1;
const FATTR_GID = 1 << 2;
const FATTR_SIZE = 1 << 3;
const FATTR_FH = 1 << 6;
const FATTR_LOCKOWNER = 1 << 9;
// atime, mtime, atime_now, mtime_now, ctime: their values are the clock's, not the workload's
const TIME_BITS = (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 10);

/** A short content digest for request data (FNV-1a, 32 bits, with the length). */
function digest(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return `${b.length}:${(h >>> 0).toString(16).padStart(8, "0")}`;
}

/** Opcodes never paired: cache evictions and interrupts depend on the kernel's memory and timing. */
const UNPAIRED_OPS = new Set(["FORGET", "BATCH_FORGET", "INTERRUPT", "NOTIFY_REPLY"]);

/**
 * Node id → path of one recording, learnt from its own replies (entries,
 * READDIRPLUS, renames), so requests of two recordings can be named alike
 * although their servers handed out different node ids.
 */
class PathNames {
  #parent = new Map<bigint, { dir: bigint; name: string }>();
  #child = new Map<string, bigint>();
  #fhNode = new Map<bigint, bigint>();

  path(node: bigint): string {
    const parts: string[] = [];
    let n = node;
    for (let depth = 0; n !== 1n; depth++) {
      const p = this.#parent.get(n);
      if (p === undefined || depth > 4096) {
        parts.push(`?${n}`); // a node this recording never named (it began mid-session)
        break;
      }
      parts.push(p.name);
      n = p.dir;
    }
    return parts.reverse().join("/");
  }

  child(dir: bigint, name: FuseName | string): string {
    const d = this.path(dir);
    const n = typeof name === "string" ? name : name.text;
    return d === "" ? n : `${d}/${n}`;
  }

  fileNode(req: FuseRequest): bigint {
    const b = req.body as { fh?: unknown };
    if (typeof b.fh === "bigint" && req.op !== "GETATTR" && req.op !== "SETATTR") {
      return this.#fhNode.get(b.fh) ?? req.header.nodeid;
    }
    return req.header.nodeid;
  }

  #bind(dir: bigint, name: string, node: bigint): void {
    if (node === 0n || name === "." || name === "..") return;
    this.#parent.set(node, { dir, name });
    this.#child.set(`${dir}/${name}`, node);
  }

  learn(req: FuseRequest, reply: FuseReply | null): void {
    if (reply === null || reply.header.error !== 0 || reply.body === null) return;
    const p = req.header.nodeid;
    switch (req.op) {
      case "LOOKUP":
      case "MKDIR":
      case "MKNOD":
      case "SYMLINK":
      case "CREATE": {
        const ids = replyNodeIds(reply);
        if (ids.length === 1) this.#bind(p, req.body.name.text, ids[0]);
        break;
      }
      case "LINK": {
        const ids = replyNodeIds(reply);
        if (ids.length === 1) this.#bind(p, req.body.newname.text, ids[0]);
        break;
      }
      case "RENAME":
      case "RENAME2": {
        const key = `${p}/${req.body.oldname.text}`;
        const n = this.#child.get(key);
        this.#child.delete(key);
        if (n !== undefined) this.#bind(req.body.newdir, req.body.newname.text, n);
        break;
      }
      case "UNLINK":
      case "RMDIR":
        this.#child.delete(`${p}/${req.body.name.text}`);
        break;
      case "READDIRPLUS":
        if (reply.op === "READDIRPLUS") {
          const dir = this.fileNode(req);
          for (const d of reply.body.entries) {
            this.#bind(dir, d.dirent.name.text, d.entry_out.nodeid);
          }
        }
        break;
    }
    if (reply.op === "OPEN" || reply.op === "OPENDIR") this.#fhNode.set(reply.body.fh, p);
    if (reply.op === "CREATE") this.#fhNode.set(reply.body.open.fh, reply.body.entry.nodeid);
  }
}

/**
 * Names one request of a recording: the stream it belongs to (the path it
 * is about) and its alignment key (opcode, that path, and the other path or
 * name it involves). Ids, offsets and sizes are not in the key: they are
 * compared after pairing.
 */
function streamAndKey(req: FuseRequest, names: PathNames): { stream: string; key: string } {
  let stream: string;
  let extra = "";
  switch (req.op) {
    case "LOOKUP":
    case "MKDIR":
    case "MKNOD":
    case "CREATE":
    case "TMPFILE":
    case "SYMLINK":
    case "UNLINK":
    case "RMDIR":
      stream = "name" in req.body ? names.child(req.header.nodeid, req.body.name) : "";
      if (req.op === "TMPFILE") stream = names.path(req.header.nodeid);
      break;
    case "LINK":
      stream = names.child(req.header.nodeid, req.body.newname);
      extra = names.path(req.body.oldnodeid);
      break;
    case "RENAME":
    case "RENAME2":
      stream = names.child(req.header.nodeid, req.body.oldname);
      extra = names.child(req.body.newdir, req.body.newname);
      break;
    case "GETXATTR":
    case "SETXATTR":
    case "REMOVEXATTR":
      stream = names.path(req.header.nodeid);
      extra = req.body.name.text;
      break;
    default:
      stream = names.path(names.fileNode(req));
  }
  return { stream, key: `${req.op}\0${extra}` };
}

/** One side of a stream for alignment: keys say what may pair, prints break ties. */
interface Side {
  keys: readonly string[];
  prints: readonly string[];
}

/**
 * Longest common subsequence of the keys of `a` and `b` as index pairs, by
 * dynamic programming (the caller bounds the size). Among the longest, the
 * one with the most pairs whose replies agree (equal prints) wins: when one
 * recording has a GETATTR fewer, the one left unpaired is the one whose
 * answer the other recording never saw, not simply the first.
 */
function lcsPairs(a: Side, b: Side): [number, number][] {
  const n = a.keys.length;
  const m = b.keys.length;
  const w = m + 1;
  const pair = Math.min(n, m) + 1; // one more pair always outweighs every agreement
  const t = new Float64Array((n + 1) * w);
  const gain = (i: number, j: number) =>
    a.keys[i] !== b.keys[j] ? -1 : pair + (a.prints[i] === b.prints[j] ? 1 : 0);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      const g = gain(i, j);
      const skip = Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
      t[i * w + j] = g < 0 ? skip : Math.max(skip, g + t[(i + 1) * w + j + 1]);
    }
  }
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const g = gain(i, j);
    if (g >= 0 && t[i * w + j] === g + t[(i + 1) * w + j + 1]) {
      out.push([i, j]);
      i++;
      j++;
    } else if (t[(i + 1) * w + j] >= t[i * w + j + 1]) i++;
    else j++;
  }
  return out;
}

/**
 * Aligns two streams: the common prefix and suffix (same keys and prints)
 * pair directly; the middle by {@linkcode lcsPairs} when it has at most
 * `maxCells` cells, otherwise by an in-order greedy match of keys (each key
 * of `a` with the next unused equal key of `b`).
 */
function align(a: Side, b: Side, maxCells: number): [number, number][] {
  const same = (i: number, j: number) => a.keys[i] === b.keys[j] && a.prints[i] === b.prints[j];
  const out: [number, number][] = [];
  const na = a.keys.length;
  const nb = b.keys.length;
  let lo = 0;
  while (lo < na && lo < nb && same(lo, lo)) out.push([lo, lo++]);
  let ha = na;
  let hb = nb;
  const tail: [number, number][] = [];
  while (ha > lo && hb > lo && same(ha - 1, hb - 1)) tail.push([--ha, --hb]);
  const cut = (s: Side, hi: number): Side => ({
    keys: s.keys.slice(lo, hi),
    prints: s.prints.slice(lo, hi),
  });
  const ma = cut(a, ha);
  const mb = cut(b, hb);
  if (ma.keys.length > 0 && mb.keys.length > 0) {
    if ((ma.keys.length + 1) * (mb.keys.length + 1) <= maxCells) {
      for (const [i, j] of lcsPairs(ma, mb)) out.push([lo + i, lo + j]);
    } else {
      const next = new Map<string, number[]>();
      mb.keys.forEach((k, j) => {
        const l = next.get(k);
        if (l === undefined) next.set(k, [j]);
        else l.push(j);
      });
      let floor = -1;
      ma.keys.forEach((k, i) => {
        const l = next.get(k);
        while (l !== undefined && l.length > 0 && l[0] <= floor) l.shift();
        if (l !== undefined && l.length > 0) {
          floor = l.shift()!;
          out.push([lo + i, lo + floor]);
        }
      });
    }
  }
  return out.concat(tail.reverse());
}

/**
 * A reply's comparable content as one string (error; attributes as the
 * differ compares them; data digests; listing names): equal prints mean the
 * differ would find nothing, which breaks ties between equal keys.
 */
function replyPrint(r: FuseReply | null): string {
  if (r === null) return "-";
  const parts: string[] = [String(r.header.error)];
  const at = (x: FuseAttr) => parts.push(`${x.mode} ${x.size} ${x.nlink} ${x.uid} ${x.gid}`);
  if (r.header.error === 0 && r.body !== null) {
    switch (r.op) {
      case "LOOKUP":
      case "MKNOD":
      case "MKDIR":
      case "SYMLINK":
      case "LINK":
      case "GETATTR":
      case "SETATTR":
        at(r.body.attr);
        break;
      case "CREATE":
      case "TMPFILE":
        at(r.body.entry.attr);
        break;
      case "READ":
        parts.push(digest(r.body.data));
        break;
      case "READLINK":
        parts.push(r.body.link.text);
        break;
      case "GETXATTR":
      case "LISTXATTR":
        parts.push(r.body.value === null ? String(r.body.size) : digest(r.body.value));
        break;
      case "READDIR":
      case "READDIRPLUS":
        parts.push(listingEntries(r).join("/"));
        break;
      case "WRITE":
        parts.push(String(r.body.size));
        break;
    }
  }
  return parts.join(" ");
}

/**
 * The stream (the path a request is about, named by the recording's own
 * replies) and alignment key of every exchange of a recording, as
 * {@linkcode pairRecordings} uses them; `null` for requests never paired
 * (FORGET, BATCH_FORGET, INTERRUPT).
 */
export function requestStreams(
  xs: readonly DecodedLike[],
): ({ stream: string; key: string } | null)[] {
  const names = new PathNames();
  return xs.map((x) => {
    const sk = UNPAIRED_OPS.has(x.req.op) ? null : streamAndKey(x.req, names);
    names.learn(x.req, x.reply);
    return sk;
  });
}

/**
 * Pairs the exchanges of two recordings of one workload (two back-ends, two
 * kernels, before and after a change) for {@linkcode diffExchanges}.
 *
 * How: each recording's requests are named by path, not by node id (each
 * recording's own replies say which path a node is), and split into streams,
 * one per path a request is about (a LOOKUP, CREATE or UNLINK is about the
 * child's path; a READ or SETATTR about its file's). Within a stream the
 * order of operations is the program's order, so the two streams of one
 * path are aligned by longest common subsequence of their keys (opcode and
 * the other name involved; offsets and sizes are compared after pairing, not
 * used to pair); among equally long alignments the one with the most
 * agreeing replies wins, so when one recording has a request fewer, the
 * request left over is the one whose answer the other never saw. Streams of different paths never compete, so requests that
 * two kernels interleave differently, or extra GETATTRs one kernel's cache
 * needed, do not shift the pairing of the rest. LCS is bounded: a stream
 * pair whose middle (after the common prefix and suffix) exceeds `maxCells`
 * (default 1M) cells is matched greedily in order instead. FORGET,
 * BATCH_FORGET and INTERRUPT are never paired (cache and timing dependent).
 *
 * Unpaired requests of `a` come out with no target reply and `skipped` set;
 * the unpaired requests of `b` are returned apart.
 */
export function pairRecordings(
  a: readonly DecodedLike[],
  b: readonly DecodedLike[],
  options: { maxCells?: number } = {},
): { exchanges: ReplayedExchange[]; unpairedB: DecodedLike[] } {
  const maxCells = options.maxCells ?? 1_000_000;
  const streamsOf = (xs: readonly DecodedLike[]) => {
    const streams = new Map<string, { idx: number[]; keys: string[]; prints: string[] }>();
    requestStreams(xs).forEach((sk, i) => {
      if (sk === null) return;
      let s = streams.get(sk.stream);
      if (s === undefined) streams.set(sk.stream, s = { idx: [], keys: [], prints: [] });
      s.idx.push(i);
      s.keys.push(sk.key);
      s.prints.push(replyPrint(xs[i].reply));
    });
    return streams;
  };
  const sa = streamsOf(a);
  const sb = streamsOf(b);
  const matchOf = new Int32Array(a.length).fill(-1);
  const usedB = new Uint8Array(b.length);
  for (const [path, s] of sa) {
    const t = sb.get(path);
    if (t === undefined) continue;
    for (const [i, j] of align(s, t, maxCells)) {
      matchOf[s.idx[i]] = t.idx[j];
      usedB[t.idx[j]] = 1;
    }
  }
  const exchanges: ReplayedExchange[] = [];
  const t0a = a.length > 0 ? a[0].ex.time : 0n;
  const t0b = b.length > 0 ? b[0].ex.time : 0n;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const base = {
      seq: x.ex.seq,
      index: i,
      recorded: x.req,
      recordedReply: x.reply,
      recordedReplyError: x.replyError,
      recordedNs: Number(x.ex.time - t0a),
    };
    const j = matchOf[i];
    if (j < 0) {
      exchanges.push({
        ...base,
        sent: null,
        targetReply: null,
        skipped: "not in the second capture",
        issuedNs: 0,
      });
      continue;
    }
    const y = b[j];
    exchanges.push({
      ...base,
      sent: y.req,
      targetReply: y.reply,
      targetReplyError: y.replyError,
      issuedNs: Number(y.ex.time - t0b),
    });
  }
  return {
    exchanges,
    unpairedB: b.filter((x, j) => !usedB[j] && !UNPAIRED_OPS.has(x.req.op)),
  };
}

/** What {@linkcode pairRecordings} needs of a decoded exchange. */
export interface DecodedLike {
  /** Its recorded frame and time. */
  ex: { seq: number; time: bigint };
  /** The request. */
  req: FuseRequest;
  /** The reply, or null. */
  reply: FuseReply | null;
  /** Why the reply does not decode. */
  replyError?: string;
}
