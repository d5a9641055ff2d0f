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
 * Compares every exchange of a replay (or of two recordings) and returns the
 * report. Listings are compared when their directory handle is released (or
 * at the end).
 */
export function diffExchanges(
  exchanges: readonly ReplayedExchange[],
  options: DiffOptions = {},
): DiffReport {
  const strict = options.strict ?? false;
  const ordered = options.ordered ?? strict;
  const depth = options.contextDepth ?? 4;
  const history = new Map<bigint, string[]>();
  const fhNode = new Map<bigint, bigint>();
  const listings = new Map<bigint, Listing>();
  const divergences: Divergence[] = [];
  const missingList: MissingExchange[] = [];
  const divergedIndex = new Set<number>();
  let matched = 0;

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
    divergences.push({
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

  for (const x of exchanges) {
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
    } else if (e.header.error !== a.header.error) {
      found.push({
        field: "error",
        expected: errorName(e.header.error),
        actual: errorName(a.header.error),
      });
    } else if (e.header.error === 0) {
      const listing = op === "READDIR" || op === "READDIRPLUS";
      if (!listing && !NOT_COMPARED_BODY.has(op) && e.header.len !== a.header.len) {
        found.push({ field: "size", expected: String(e.header.len), actual: String(a.header.len) });
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
      if (e === null || a === null || e.header.error !== 0 || a.header.error !== 0) l.broken = true;
      l.expected.push(...listingEntries(e));
      l.actual.push(...listingEntries(a));
    }
    if (op === "RELEASEDIR") closeListing(req.body.fh);

    if (missing !== undefined) missingList.push({ seq: x.seq, op, reason: missing });
    else if (found.length > 0) {
      const context = contextOf(node);
      for (const f of found) {
        divergences.push({ seq: x.seq, index: x.index, op, nodeid: node, args, ...f, context });
      }
      divergedIndex.add(x.index);
    } else matched++;

    // history for later context
    const result = e === null ? "no reply" : errorName(e.header.error);
    const line = `#${x.seq} ${op}${args === "" ? "" : ` ${args}`} → ${result}`;
    remember(node, line);
    for (const n of replyNodeIds(e)) if (n !== node) remember(n, line);
    if (e !== null && e.header.error === 0 && e.body !== null) {
      if (e.op === "OPEN" || e.op === "OPENDIR") fhNode.set(e.body.fh, req.header.nodeid);
      if (e.op === "CREATE" || e.op === "TMPFILE") fhNode.set(e.body.open.fh, e.body.entry.nodeid);
    }
  }
  for (const fh of [...listings.keys()]) closeListing(fh);
  divergences.sort((p, q) => p.index - q.index);
  // an exchange whose listing diverged was counted matched on its own reply: move it
  let diverged = 0;
  for (const _ of divergedIndex) diverged++;
  matched = Math.max(0, exchanges.length - missingList.length - diverged);
  return {
    total: exchanges.length,
    matched,
    diverged,
    missing: missingList.length,
    divergences,
    missingList,
    equivalent: diverged === 0 && missingList.length === 0,
  };
}

function pairKey(req: FuseRequest): string {
  const b = req.body as Record<string, unknown>;
  const parts: string[] = [req.op];
  for (const f of ["name", "oldname", "newname", "linkname"]) {
    if (typeof b[f] === "string" || b[f] instanceof Uint8Array) {
      parts.push(nameText(b[f] as string | Uint8Array));
    }
  }
  if (req.op === "READ" || req.op === "WRITE") parts.push(`${b.offset}+${b.size}`);
  return parts.join("\0");
}

/**
 * Pairs the exchanges of two recordings of one workload (two back-ends, two
 * kernels, before and after a change) for {@linkcode diffExchanges}: each
 * request of `a` with the first unpaired request of `b` of the same opcode and
 * names (and offset and size for READ and WRITE) within `window` positions
 * (default 256). Unpaired requests of `a` come out with no target reply and
 * `skipped` set; the unpaired requests of `b` are returned apart.
 */
export function pairRecordings(
  a: readonly DecodedLike[],
  b: readonly DecodedLike[],
  options: { window?: number } = {},
): { exchanges: ReplayedExchange[]; unpairedB: DecodedLike[] } {
  const window = options.window ?? 256;
  const used = new Uint8Array(b.length);
  let low = 0;
  const exchanges: ReplayedExchange[] = [];
  const t0a = a.length > 0 ? a[0].ex.time : 0n;
  const t0b = b.length > 0 ? b[0].ex.time : 0n;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    while (low < b.length && used[low]) low++;
    const key = pairKey(x.req);
    let match = -1;
    for (let j = low; j < Math.min(b.length, low + window); j++) {
      if (!used[j] && pairKey(b[j].req) === key) {
        match = j;
        break;
      }
    }
    const base = {
      seq: x.ex.seq,
      index: i,
      recorded: x.req,
      recordedReply: x.reply,
      recordedReplyError: x.replyError,
      recordedNs: Number(x.ex.time - t0a),
    };
    if (match < 0) {
      exchanges.push({
        ...base,
        sent: null,
        targetReply: null,
        skipped: "not in the second capture",
        issuedNs: 0,
      });
      continue;
    }
    used[match] = 1;
    const y = b[match];
    exchanges.push({
      ...base,
      sent: y.req,
      targetReply: y.reply,
      targetReplyError: y.replyError,
      issuedNs: Number(y.ex.time - t0b),
    });
  }
  return { exchanges, unpairedB: b.filter((_, j) => !used[j]) };
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
