/**
 * `ringside check`: protocol violations in a capture, each with a severity,
 * a sentence and the frame numbers to look at. One pass over the events in
 * constant memory (bounded tables; what they turned away is counted).
 *
 * What it knows (finding codes):
 * - `reply_without_request`: a reply whose unique no pending request carried.
 * - `duplicate_unique`: a request reuses a unique that is still in flight.
 * - `reply_size`: a successful reply whose body size is wrong for its opcode
 *   at the negotiated minor (or larger than the request asked for).
 * - `error_reply_with_body`: an error reply that carries bytes after the header.
 * - `reply_to_forget`: a reply to FORGET or BATCH_FORGET, which take none.
 * - `nodeid_after_forget`: a request names a node id after FORGET dropped its
 *   last lookup reference (and no entry reply handed it out again).
 * - `handle_after_release`: a request uses a file or directory handle after
 *   its RELEASE or RELEASEDIR (and no OPEN handed it out again).
 * - `readdir_offset`: READDIR/READDIRPLUS continues from an offset that
 *   neither 0, nor the previous request's, nor any entry of the previous reply gave.
 * - `malformed_chain`: the device flagged a descriptor chain as malformed
 *   (a readable descriptor after a writable one, a loop, an address out of range).
 * - `used_above_writable`: a reply longer than the chain's writable room.
 * - `ring_before_mem_table`: a ring is used before SET_MEM_TABLE (or ADD_MEM_REG).
 * - `kick_before_addr`: a queue is kicked before its SET_VRING_ADDR.
 * - `decode_error`: a message that does not decode, for a reason not above.
 *
 * @module
 */
import {
  errorName,
  FATTR,
  GETATTR,
  Opcode,
  opcodeHasNoReply,
  opcodeName,
} from "../codecs/fuse/mod.ts";
import { FUSE_KERNEL_MINOR_VERSION, FUSE_UNIQUE_RESEND } from "../codecs/fuse/mod.ts";
import type { FuseRequest } from "../codecs/fuse/mod.ts";
import { type Malformation, RECORD_FLAG_MALFORMED } from "../codecs/pcapng/record.ts";
import { FrontendRequest } from "../codecs/vhost_user/vhost_user.ts";
import type { CaptureEvent, EventSummary } from "./events.ts";
import { BoundedMap } from "./sketch.ts";
import { type Key, keyOf, le32, u64Key, u64Number } from "./_wire.ts";
import { queueLabel } from "./stats.ts";

/** Each malformation in words, for the `malformed_chain` finding. */
const MALFORMATION_WORDS: Readonly<Partial<Record<Malformation, string>>> = {
  "loop": "its descriptors loop",
  "chain-too-long": "it has more descriptors than the queue size",
  "address-out-of-memory": "a buffer lies outside guest memory",
  "readable-after-writable": "a device-readable descriptor follows a device-writable one",
  "nested-indirect": "an indirect table holds an INDIRECT descriptor",
  "indirect-with-next": "a descriptor has both INDIRECT and NEXT",
  "bad-indirect-length": "an indirect table's length is not a non-zero multiple of 16",
  "indirect-not-negotiated": "it uses INDIRECT without VIRTIO_F_INDIRECT_DESC",
  "index-out-of-range": "a descriptor index is at or past the queue size",
  "avail-idx-jump": "the available index moved by more than the queue size",
};

/** How bad a finding is: `error` breaks the protocol, `warning` is suspicious. */
export type Severity = "error" | "warning";

/** Every finding code {@linkcode CheckAnalyzer} knows, with its severity. */
export const FINDING_CODES: Readonly<Record<string, Severity>> = Object.freeze({
  reply_without_request: "error",
  duplicate_unique: "error",
  reply_size: "error",
  error_reply_with_body: "error",
  reply_to_forget: "error",
  nodeid_after_forget: "error",
  handle_after_release: "error",
  readdir_offset: "warning",
  malformed_chain: "error",
  used_above_writable: "error",
  ring_before_mem_table: "error",
  kick_before_addr: "error",
  decode_error: "warning",
});

/** One violation. */
export interface Finding {
  /** What kind (a key of {@linkcode FINDING_CODES}). */
  code: string;
  /** How bad. */
  severity: Severity;
  /** One sentence for people. */
  message: string;
  /** Frames involved, the offending one first. */
  frames: number[];
  /** Time of the offending frame, ns since the epoch, decimal. */
  time_ns: string;
}

/** What `ringside check` reports. */
export interface CheckReport {
  /** Events read. */
  frames: number;
  /** Findings in capture order (the first `maxFindings`). */
  findings: Finding[];
  /** Findings by code, including those past `maxFindings`. */
  counts: Record<string, number>;
  /** Errors (including those past the cap). */
  errors: number;
  /** Warnings (including those past the cap). */
  warnings: number;
  /** Findings not listed because of `maxFindings`. */
  unlisted: number;
  /** Damage that ended the read early, as a sentence. */
  damage?: string;
  /** Entries the bounded tables turned away (checks on them were skipped). */
  overflow: { in_flight: number; nodes: number; handles: number };
}

/** Options for {@linkcode CheckAnalyzer}. */
export interface CheckOptions {
  /** Most findings listed (default 1000); the rest are only counted. */
  maxFindings?: number;
  /** Most requests tracked in flight (default 65536). */
  maxInFlight?: number;
  /** Most node ids tracked (default 262144). */
  maxNodes?: number;
  /** Most handles tracked (default 65536). */
  maxHandles?: number;
}

interface Pending {
  frame: number;
  opcode: number;
  session: number;
  /** READ/READDIR(PLUS)/GETXATTR/LISTXATTR: the size asked for. */
  size?: number;
  /** READDIR(PLUS): the handle, for the resume check. */
  fh?: Key;
}

/** A u64 (unique, node id, handle) within its FUSE session: itself in session 0. */
type Scoped = Key | string;

function scoped(session: number, k: Key): Scoped {
  return session === 0 ? k : `${session}:${k}`;
}

interface NodeState {
  nlookup: number;
  /** Frame of the FORGET that dropped the last reference (0 while held). */
  forgotten: number;
}

interface HandleState {
  refs: number;
  /** Frame of the RELEASE that dropped the last reference (0 while open). */
  released: number;
  /** Directory handles: entry offsets of the last READDIR reply and the last request offset. */
  offsets?: Set<Key>;
  lastOffset?: Key;
  answered?: boolean;
}

/** Body size of a successful reply of `opcode` at `minor`, when it is fixed (undefined when variable). */
function fixedReplySize(opcode: number, minor: number): number | undefined {
  const entry = minor < 9 ? 120 : 128;
  switch (opcode) {
    case Opcode.LOOKUP:
    case Opcode.MKNOD:
    case Opcode.MKDIR:
    case Opcode.SYMLINK:
    case Opcode.LINK:
      return entry;
    case Opcode.GETATTR:
    case Opcode.SETATTR:
      return minor < 9 ? 96 : 104;
    case Opcode.OPEN:
    case Opcode.OPENDIR:
      return 16;
    case Opcode.CREATE:
    case Opcode.TMPFILE:
      return entry + 16;
    case Opcode.WRITE:
    case Opcode.COPY_FILE_RANGE:
    case Opcode.BMAP:
    case Opcode.POLL:
    case Opcode.LSEEK:
    case Opcode.COPY_FILE_RANGE_64:
      return 8;
    case Opcode.STATFS:
      return minor < 4 ? 48 : 80;
    case Opcode.GETLK:
      return 24;
    case Opcode.STATX:
      return 288;
    case Opcode.UNLINK:
    case Opcode.RMDIR:
    case Opcode.RENAME:
    case Opcode.RENAME2:
    case Opcode.RELEASE:
    case Opcode.RELEASEDIR:
    case Opcode.FSYNC:
    case Opcode.FSYNCDIR:
    case Opcode.SETXATTR:
    case Opcode.REMOVEXATTR:
    case Opcode.FLUSH:
    case Opcode.SETLK:
    case Opcode.SETLKW:
    case Opcode.ACCESS:
    case Opcode.INTERRUPT:
    case Opcode.DESTROY:
    case Opcode.FALLOCATE:
    case Opcode.SETUPMAPPING:
    case Opcode.REMOVEMAPPING:
    case Opcode.SYNCFS:
      return 0;
    default:
      return undefined;
  }
}

/** The handles a request uses: `[kind, fh]` pairs (`f` file, `d` directory). */
function handlesUsed(req: FuseRequest): ["f" | "d", bigint][] {
  switch (req.op) {
    case "READ":
    case "WRITE":
    case "FLUSH":
    case "FSYNC":
    case "LSEEK":
    case "FALLOCATE":
    case "GETLK":
    case "SETLK":
    case "SETLKW":
    case "IOCTL":
    case "POLL":
    case "RELEASE":
    case "SETUPMAPPING":
      return [["f", req.body.fh]];
    case "COPY_FILE_RANGE":
    case "COPY_FILE_RANGE_64":
      return [["f", req.body.fh_in], ["f", req.body.fh_out]];
    case "GETATTR":
      return (req.body.getattr_flags & GETATTR.FUSE_GETATTR_FH) !== 0 ? [["f", req.body.fh]] : [];
    case "SETATTR":
      return (req.body.valid & FATTR.FATTR_FH) !== 0 ? [["f", req.body.fh]] : [];
    case "READDIR":
    case "READDIRPLUS":
    case "FSYNCDIR":
    case "RELEASEDIR":
      return [["d", req.body.fh]];
    default:
      return [];
  }
}

/** Node ids a request names besides its header's. */
function otherNodes(req: FuseRequest): bigint[] {
  switch (req.op) {
    case "RENAME":
    case "RENAME2":
      return [req.body.newdir];
    case "LINK":
      return [req.body.oldnodeid];
    case "COPY_FILE_RANGE":
    case "COPY_FILE_RANGE_64":
      return [req.body.nodeid_out];
    default:
      return [];
  }
}

const RECENT_FORGETS = 4096;

/** Opcodes whose request names a node besides its header's ({@linkcode otherNodes}). */
const OTHER_NODE_OPS = new Set<number>([
  Opcode.RENAME,
  Opcode.RENAME2,
  Opcode.LINK,
  Opcode.COPY_FILE_RANGE,
  Opcode.COPY_FILE_RANGE_64,
]);

/** Opcodes whose request may use a handle ({@linkcode handlesUsed}). */
const HANDLE_OPS = new Set<number>([
  Opcode.READ,
  Opcode.WRITE,
  Opcode.FLUSH,
  Opcode.FSYNC,
  Opcode.LSEEK,
  Opcode.FALLOCATE,
  Opcode.GETLK,
  Opcode.SETLK,
  Opcode.SETLKW,
  Opcode.IOCTL,
  Opcode.POLL,
  Opcode.RELEASE,
  Opcode.SETUPMAPPING,
  Opcode.COPY_FILE_RANGE,
  Opcode.COPY_FILE_RANGE_64,
  Opcode.GETATTR,
  Opcode.SETATTR,
  Opcode.READDIR,
  Opcode.READDIRPLUS,
  Opcode.FSYNCDIR,
  Opcode.RELEASEDIR,
]);

/**
 * Folds capture events into a {@linkcode CheckReport}: push every event in
 * order, then call {@linkcode CheckAnalyzer.finish}.
 *
 * @example
 * ```ts
 * import { CheckAnalyzer } from "./check.ts";
 * import { readEvents } from "./events.ts";
 * const check = new CheckAnalyzer();
 * for await (const ev of readEvents("capture.pcapng")) check.push(ev);
 * console.log(check.finish().errors);
 * ```
 */
export class CheckAnalyzer {
  #max: number;
  #frames = 0;
  #findings: Finding[] = [];
  #counts = new Map<string, number>();
  #minor: number | undefined;
  #initMinor: number | undefined;
  #kernelMinor: number | undefined;
  #inflight: BoundedMap<Scoped, Pending>;
  #nodes: BoundedMap<Scoped, NodeState>;
  #files: BoundedMap<Scoped, HandleState>;
  #dirs: BoundedMap<Scoped, HandleState>;
  /** Uniques of recent FORGETs (insertion-ordered, the oldest dropped). */
  #forgets = new Set<Scoped>();
  #section = 0;
  #sawFrontend = false;
  #memTable = false;
  #addr = new Set<number>();
  #reportedQueue = new Set<string>();

  /** Builds an empty checker. */
  constructor(options: CheckOptions = {}) {
    this.#max = options.maxFindings ?? 1000;
    this.#inflight = new BoundedMap(options.maxInFlight ?? 65536);
    this.#nodes = new BoundedMap(options.maxNodes ?? 262144);
    this.#files = new BoundedMap(options.maxHandles ?? 65536);
    this.#dirs = new BoundedMap(options.maxHandles ?? 65536);
  }

  #find(code: string, ev: CaptureEvent, message: string, frames: number[] = [ev.frame]): void {
    this.#counts.set(code, (this.#counts.get(code) ?? 0) + 1);
    if (this.#findings.length >= this.#max) return;
    this.#findings.push({
      code,
      severity: FINDING_CODES[code],
      message,
      frames,
      time_ns: String(ev.time_ns),
    });
  }

  /** The minor replies are checked against: INIT's, else the record header's, else 45. */
  get minor(): number {
    return this.#initMinor ?? this.#minor ?? FUSE_KERNEL_MINOR_VERSION;
  }

  /** Takes one event (in capture order). */
  push(ev: CaptureEvent): void {
    this.#frames++;
    if (ev.section !== this.#section) {
      // a new section is a new connection (the next guest): its set-up starts over
      this.#section = ev.section;
      this.#sawFrontend = false;
      this.#memTable = false;
      this.#addr.clear();
      this.#reportedQueue.clear();
    }
    if (ev.fuse_minor !== undefined) this.#minor = ev.fuse_minor;
    if ((ev.record_flags ?? 0) & RECORD_FLAG_MALFORMED) {
      const c = ev.chain;
      this.#find(
        "malformed_chain",
        ev,
        `the device failed a malformed descriptor chain on ${queueLabel(ev)}` +
          (c !== undefined
            ? ` (head ${c.head}, ${c.descriptors} descriptors, ${c.readableBytes} readable and ${c.writableBytes} writable bytes)`
            : "") +
          (ev.malformation !== undefined
            ? `: ${MALFORMATION_WORDS[ev.malformation] ?? ev.malformation}`
            : ": a readable descriptor after a writable one, a loop or an address outside guest memory"),
      );
    }
    if (ev.kind === "ring_chain" && ev.chain !== undefined && ev.bytes.length >= 4) {
      const used =
        (ev.bytes[0] | (ev.bytes[1] << 8) | (ev.bytes[2] << 16) | (ev.bytes[3] << 24)) >>>
        0;
      if (used > ev.chain.writableBytes) {
        this.#find(
          "used_above_writable",
          ev,
          `the device returned chain ${ev.chain.head} on ${
            queueLabel(ev)
          } as used with ${used} bytes, above the ${ev.chain.writableBytes} writable bytes it offered`,
        );
      }
    }
    switch (ev.kind) {
      case "vhost_user_front_to_back":
        this.#vhostUser(ev);
        return;
      case "ring_kick":
      case "ring_chain":
        this.#ringUse(ev);
        return;
      case "fuse_request":
        if (ev.queue !== undefined) this.#ringUse(ev);
        this.#request(ev);
        return;
      case "fuse_reply":
        this.#reply(ev);
        return;
      default:
        if (ev.error !== undefined) this.#decodeError(ev);
    }
  }

  #decodeError(ev: CaptureEvent): void {
    this.#find(
      "decode_error",
      ev,
      `${ev.kind.replaceAll("_", " ")} does not decode: ${ev.error!.message}`,
    );
  }

  #vhostUser(ev: CaptureEvent): void {
    if (ev.error !== undefined) {
      this.#decodeError(ev);
      return;
    }
    const v = ev.vhost_user;
    if (v === undefined || v.reply) return;
    this.#sawFrontend = true;
    const b = ev.bytes;
    switch (v.request) {
      case FrontendRequest.SET_MEM_TABLE:
      case FrontendRequest.ADD_MEM_REG:
        this.#memTable = true;
        break;
      case FrontendRequest.SET_VRING_ADDR:
        if (b.length >= 16) this.#addr.add(b[12] | (b[13] << 8) | (b[14] << 16) | (b[15] << 24));
        break;
      case FrontendRequest.RESET_OWNER:
      case FrontendRequest.RESET_DEVICE:
        this.#memTable = false;
        this.#addr.clear();
        this.#reportedQueue.clear();
        break;
    }
  }

  /** Ring order: only judged once the capture has shown the vhost-user set-up. */
  #ringUse(ev: CaptureEvent): void {
    if (!this.#sawFrontend || ev.queue === undefined) return;
    const q = ev.queue;
    if (!this.#memTable && !this.#reportedQueue.has(`m${q}`)) {
      this.#reportedQueue.add(`m${q}`);
      this.#find(
        "ring_before_mem_table",
        ev,
        `vq${q} is used (${
          ev.kind.replaceAll("_", " ")
        }) before the front-end sent SET_MEM_TABLE: the back-end cannot map its rings`,
      );
    }
    if (ev.kind === "ring_kick" && !this.#addr.has(q) && !this.#reportedQueue.has(`a${q}`)) {
      this.#reportedQueue.add(`a${q}`);
      this.#find(
        "kick_before_addr",
        ev,
        `vq${q} is kicked before SET_VRING_ADDR gave its ring addresses`,
      );
    }
  }

  #useNode(ev: CaptureEvent, nodeid: Key, what: string): void {
    if (nodeid === 0 || nodeid === 1) return;
    const key = scoped(ev.session, nodeid);
    const n = this.#nodes.get(key);
    if (n === undefined || n.forgotten === 0) return;
    this.#find(
      "nodeid_after_forget",
      ev,
      `${what} names node ${nodeid}, which the kernel had forgotten (no lookup reference left since frame ${n.forgotten})`,
      [ev.frame, n.forgotten],
    );
    n.forgotten = 0; // report the first use only
    this.#nodes.delete(key);
  }

  #forget(ev: CaptureEvent, nodeid: Key, nlookup: number): void {
    this.#useNode(ev, nodeid, "FORGET");
    const n = this.#nodes.get(scoped(ev.session, nodeid));
    if (n === undefined) return;
    n.nlookup -= nlookup;
    if (n.nlookup <= 0) {
      n.nlookup = 0;
      n.forgotten = ev.frame;
    }
  }

  #request(ev: CaptureEvent): void {
    const f = ev.fuse;
    if (f === undefined) {
      if (ev.error !== undefined) this.#decodeError(ev);
      return;
    }
    if (ev.error !== undefined) this.#decodeError(ev);
    const op = f.op;
    const opcode = f.opcode;
    const nodeid = f.nodeidKey ?? 0;
    const session = ev.session;
    if (opcode === Opcode.FORGET) {
      // fuse_forget_in { u64 nlookup }
      const b = ev.bytes;
      if (b.length >= 48) this.#forget(ev, nodeid, u64Number(b, 40));
    } else if (opcode === Opcode.BATCH_FORGET) {
      const req = f.request;
      if (req?.op === "BATCH_FORGET") {
        for (const one of req.body.forgets) {
          this.#forget(ev, keyOf(one.nodeid), Number(one.nlookup));
        }
      }
    } else {
      this.#useNode(ev, nodeid, op);
      if (OTHER_NODE_OPS.has(opcode)) {
        const req = f.request;
        if (req !== undefined) { for (const n of otherNodes(req)) this.#useNode(ev, keyOf(n), op); }
      }
    }
    const unique = scoped(session, f.uniqueKey);
    if (opcodeHasNoReply(opcode)) {
      this.#forgets.add(unique);
      if (this.#forgets.size > RECENT_FORGETS) {
        this.#forgets.delete(this.#forgets.values().next().value as Scoped);
      }
      return;
    }
    const req = HANDLE_OPS.has(opcode) || opcode === Opcode.INIT ? f.request : undefined;
    if (req !== undefined) this.#requestHandles(ev, req);
    if (req?.op === "INIT") this.#kernelMinor = req.body.minor;
    const earlier = this.#inflight.get(unique);
    if (earlier !== undefined) {
      this.#find(
        "duplicate_unique",
        ev,
        `${op} reuses unique ${f.uniqueKey}, still in flight for ${
          opcodeName(earlier.opcode)
        } (frame ${earlier.frame})`,
        [ev.frame, earlier.frame],
      );
    }
    const p: Pending = { frame: ev.frame, opcode, session };
    const b = ev.bytes;
    switch (opcode) {
      case Opcode.READ: // fuse_read_in { u64 fh; u64 offset; u32 size; ... }
        if (b.length >= 60) p.size = le32(b, 56);
        break;
      case Opcode.READDIR:
      case Opcode.READDIRPLUS:
        if (b.length >= 60) {
          p.size = le32(b, 56);
          p.fh = u64Key(b, 40);
        }
        break;
      case Opcode.GETXATTR:
      case Opcode.LISTXATTR: // fuse_getxattr_in { u32 size; u32 padding }
        if (b.length >= 44) p.size = le32(b, 40);
        break;
    }
    this.#inflight.set(unique, p);
  }

  #requestHandles(ev: CaptureEvent, req: FuseRequest): void {
    for (const [kind, fh] of handlesUsed(req)) {
      const table = kind === "f" ? this.#files : this.#dirs;
      const key = scoped(ev.session, keyOf(fh));
      const h = table.get(key);
      if (h === undefined) continue;
      if (h.released !== 0) {
        this.#find(
          "handle_after_release",
          ev,
          `${req.op} uses ${kind === "f" ? "file" : "directory"} handle ${fh} after its ${
            kind === "f" ? "RELEASE" : "RELEASEDIR"
          } (frame ${h.released})`,
          [ev.frame, h.released],
        );
        table.delete(key); // report the first use only
        continue;
      }
      if (req.op === "RELEASE" || req.op === "RELEASEDIR") {
        if (--h.refs <= 0) {
          h.refs = 0;
          h.released = ev.frame;
        }
      } else if (req.op === "READDIR" || req.op === "READDIRPLUS") {
        const o = keyOf(req.body.offset);
        if (
          h.answered && o !== 0 && o !== h.lastOffset && !(h.offsets?.has(o) ?? false)
        ) {
          this.#find(
            "readdir_offset",
            ev,
            `${req.op} on directory handle ${fh} resumes at offset ${o}, which no entry of the previous reply gave`,
          );
        }
        h.lastOffset = o;
      }
    }
  }

  #reply(ev: CaptureEvent): void {
    const b = ev.bytes;
    if (b.length < 16) {
      this.#decodeError(ev);
      return;
    }
    const len = b.length;
    const error = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) | 0;
    let u: Key = ev.fuse?.uniqueKey ?? 0;
    let unique = scoped(ev.session, u);
    let p = this.#inflight.get(unique);
    if (p === undefined && typeof u === "bigint" && (u & FUSE_UNIQUE_RESEND) !== 0n) {
      u = keyOf(u & ~FUSE_UNIQUE_RESEND);
      unique = scoped(ev.session, u);
      p = this.#inflight.get(unique);
    }
    const chain = ev.chain;
    if (chain !== undefined && len > chain.writableBytes) {
      this.#find(
        "used_above_writable",
        ev,
        `a ${len}-byte reply on ${
          queueLabel(ev)
        } is longer than the ${chain.writableBytes} writable bytes its chain (head ${chain.head}) offered`,
      );
    }
    if (p === undefined) {
      if (this.#forgets.has(unique)) {
        this.#find(
          "reply_to_forget",
          ev,
          `a reply (unique ${u}) answers a FORGET, which takes no reply`,
        );
      } else if (this.#inflight.overflow === 0) {
        this.#find(
          "reply_without_request",
          ev,
          `a reply with unique ${u} (${errorName(error)}) answers no request in flight`,
        );
      }
      return;
    }
    this.#inflight.delete(unique);
    const op = opcodeName(p.opcode);
    let explained = false;
    if (error !== 0) {
      if (len > 16) {
        explained = true;
        this.#find(
          "error_reply_with_body",
          ev,
          `the ${errorName(error)} reply to ${op} (frame ${p.frame}) carries ${
            len - 16
          } bytes after the header; an error reply is the header alone`,
          [ev.frame, p.frame],
        );
      }
    } else {
      const body = len - 16;
      const want = this.#wantSize(p, b);
      if (want !== undefined && (want.exact ? body !== want.size : body > want.size)) {
        explained = true;
        this.#find(
          "reply_size",
          ev,
          `the ${op} reply (request frame ${p.frame}) has a ${body}-byte body; 7.${this.minor} wants ${
            want.exact ? "" : "at most "
          }${want.size}`,
          [ev.frame, p.frame],
        );
      } else if (p.opcode === Opcode.INIT && body >= 8) {
        const server = b[20] | (b[21] << 8) | (b[22] << 16) | (b[23] << 24);
        this.#initMinor = Math.min(server, this.#kernelMinor ?? server);
      }
    }
    if (ev.error !== undefined && !explained) this.#decodeError(ev);
    if (error === 0 && !explained) this.#replyState(ev, p, b);
  }

  /** The body size a successful reply should have: exact, or a ceiling (reads). */
  #wantSize(p: Pending, b: Uint8Array): { size: number; exact: boolean } | undefined {
    switch (p.opcode) {
      case Opcode.READ:
      case Opcode.READDIR:
      case Opcode.READDIRPLUS:
        return p.size === undefined ? undefined : { size: p.size, exact: false };
      case Opcode.GETXATTR:
      case Opcode.LISTXATTR:
        if (p.size === undefined) return undefined;
        return p.size === 0 ? { size: 8, exact: true } : { size: p.size, exact: false };
      case Opcode.INIT: {
        if (b.length < 24) return { size: 8, exact: false };
        const server = b[20] | (b[21] << 8) | (b[22] << 16) | (b[23] << 24);
        return { size: server < 5 ? 8 : server < 23 ? 24 : 64, exact: true };
      }
      default: {
        const size = fixedReplySize(p.opcode, this.minor);
        return size === undefined ? undefined : { size, exact: true };
      }
    }
  }

  #lookup(session: number, nodeid: Key): void {
    if (nodeid === 0) return;
    const key = scoped(session, nodeid);
    const n = this.#nodes.get(key);
    if (n === undefined) this.#nodes.set(key, { nlookup: 1, forgotten: 0 });
    else {
      n.nlookup++;
      n.forgotten = 0;
    }
  }

  #open(table: BoundedMap<Scoped, HandleState>, key: Scoped): void {
    const h = table.get(key);
    if (h === undefined || h.released !== 0) table.set(key, { refs: 1, released: 0 });
    else h.refs++;
  }

  /**
   * Lookup references and handles a successful reply of the right size hands
   * out (fuse_entry_out and fuse_open_out start with the node id and the handle).
   */
  #replyState(ev: CaptureEvent, p: Pending, b: Uint8Array): void {
    const session = p.session;
    const entry = this.minor < 9 ? 120 : 128;
    switch (p.opcode) {
      case Opcode.LOOKUP:
      case Opcode.MKNOD:
      case Opcode.MKDIR:
      case Opcode.SYMLINK:
      case Opcode.LINK:
        if (b.length >= 24) this.#lookup(session, u64Key(b, 16));
        break;
      case Opcode.CREATE:
      case Opcode.TMPFILE:
        if (b.length >= 16 + entry + 8) {
          this.#lookup(session, u64Key(b, 16));
          this.#open(this.#files, scoped(session, u64Key(b, 16 + entry)));
        }
        break;
      case Opcode.OPEN:
        if (b.length >= 24) this.#open(this.#files, scoped(session, u64Key(b, 16)));
        break;
      case Opcode.OPENDIR:
        if (b.length >= 24) this.#open(this.#dirs, scoped(session, u64Key(b, 16)));
        break;
      case Opcode.READDIR:
      case Opcode.READDIRPLUS: {
        const reply = ev.fuse?.reply;
        if (reply === undefined || reply.body === null) break;
        const h = p.fh === undefined ? undefined : this.#dirs.get(scoped(session, p.fh));
        const offsets = new Set<Key>();
        if (reply.op === "READDIR") {
          for (const e of reply.body.entries) offsets.add(keyOf(e.off));
        } else if (reply.op === "READDIRPLUS") {
          for (const e of reply.body.entries) {
            offsets.add(keyOf(e.dirent.off));
            const name = e.dirent.name.text;
            if (name !== "." && name !== "..") this.#lookup(session, keyOf(e.entry_out.nodeid));
          }
        }
        if (h !== undefined) {
          h.offsets = offsets;
          h.answered = true;
        }
        break;
      }
    }
  }

  /** The report; `summary` (from `readEvents`) adds damage information. */
  finish(summary?: EventSummary): CheckReport {
    let errors = 0;
    let warnings = 0;
    let listed = 0;
    for (const [code, n] of this.#counts) {
      if (FINDING_CODES[code] === "error") errors += n;
      else warnings += n;
      listed += n;
    }
    return {
      frames: this.#frames,
      findings: this.#findings,
      counts: Object.fromEntries(this.#counts),
      errors,
      warnings,
      unlisted: listed - this.#findings.length,
      damage: summary?.damage?.message,
      overflow: {
        in_flight: this.#inflight.overflow,
        nodes: this.#nodes.overflow,
        handles: this.#files.overflow + this.#dirs.overflow,
      },
    };
  }
}

/** Runs a {@linkcode CheckAnalyzer} over `events` and returns its report. */
export async function collectCheck(
  events: AsyncIterable<CaptureEvent> | Iterable<CaptureEvent>,
  options: CheckOptions & { summary?: EventSummary } = {},
): Promise<CheckReport> {
  const c = new CheckAnalyzer(options);
  for await (const ev of events) c.push(ev);
  return c.finish(options.summary);
}

/** The report as text: one line per finding, then a summary line. */
export function formatCheck(r: CheckReport): string {
  const out: string[] = [];
  for (const f of r.findings) {
    out.push(
      `${f.severity.padEnd(7)} ${f.code}  frame${f.frames.length > 1 ? "s" : ""} ${
        f.frames.join(", ")
      }: ${f.message}`,
    );
  }
  if (r.unlisted > 0) out.push(`(${r.unlisted} more findings not listed)`);
  if (r.damage !== undefined) out.push(`damage: ${r.damage} (checked up to there)`);
  const o = r.overflow;
  if (o.in_flight + o.nodes + o.handles > 0) {
    out.push(
      `bounded tables: ${o.in_flight} requests, ${o.nodes} node ids, ${o.handles} handles not tracked (their checks were skipped)`,
    );
  }
  out.push(
    r.errors + r.warnings === 0
      ? `${r.frames} frames checked: no findings`
      : `${r.frames} frames checked: ${r.errors} error${
        r.errors === 1 ? "" : "s"
      }, ${r.warnings} warning${r.warnings === 1 ? "" : "s"}`,
  );
  return out.join("\n");
}
