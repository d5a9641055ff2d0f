/**
 * Reading a capture as a stream of events: every packet of a pcapng or
 * classic pcap file, or every message of a raw FUSE stream (the format is
 * detected), becomes one {@linkcode CaptureEvent} with its frame number (as
 * Wireshark counts), time, channel, record header fields and the decoded
 * FUSE or vhost-user message. Replies are paired with their requests by
 * `unique` and decoded by the request's opcode; they carry the request's frame
 * number and the latency.
 *
 * Memory stays constant whatever the file size: the file is read in chunks,
 * and the pairing table is bounded (requests never answered are counted and
 * listed in the {@linkcode EventSummary} at the end, the oldest evicted when
 * the bound is reached). A message that does not decode is an event with an
 * `error`, and the stream goes on; damage to the container itself (a
 * truncated or corrupt block) ends the stream with a {@linkcode CodecError}
 * naming the byte offset, after every event before it.
 *
 * Field names are the stable keys of `ringside decode --json` and of the
 * Wireshark dissector (`fuse.opcode`, `fuse.unique`, `fuse.nodeid`, ...).
 *
 * @example
 * ```ts
 * import { readEvents } from "./events.ts";
 * const events = readEvents("testdata/pcapng/synthetic.pcapng");
 * for await (const ev of events) {
 *   if (ev.fuse !== undefined) console.log(ev.frame, ev.fuse.op, ev.fuse.unique);
 * }
 * console.log(events.summary.unansweredCount);
 * ```
 *
 * @module
 */
import { CodecError } from "../codecs/errors.ts";
import type { Malformation } from "../codecs/pcapng/record.ts";
import {
  type CaptureFormat,
  type CaptureItem,
  CaptureReader,
  type ChainSummary,
  decodeRecord,
  type Direction,
  LINKTYPE_WIRESHARK_UPPER_PDU,
  recordDirection,
  type RecordKind,
} from "../codecs/pcapng/mod.ts";
import {
  decodeNotification,
  decodeReply,
  decodeRequest,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_UNIQUE_RESEND,
  type FuseNotification,
  type FuseReply,
  type FuseRequest,
  InitFlag,
  initFlagsWord,
  notifyName,
  opcodeHasNoReply,
  opcodeName,
} from "../codecs/fuse/mod.ts";
import {
  decodeHeader as decodeVhostUserHeader,
  requestName,
  VHOST_USER_REPLY_MASK,
} from "../codecs/vhost_user/mod.ts";

/** What an event holds: a ringside record kind, or a message of unknown direction in a foreign capture. */
export type EventKind = RecordKind;

/** The FUSE side of an event (requests, replies, notifications). */
export interface FuseEventFields {
  /** Opcode (`fuse_in_header.opcode`; for a reply, its request's; 0 when no request matched; the notify code for a notification). */
  opcode: number;
  /** Opcode name (`LOOKUP`), `NOTIFY_<name>` for a notification, `UNKNOWN` when not known. */
  op: string;
  /** `unique` from the header (0 for a notification). */
  unique: bigint;
  /** Node id: the request's (a reply carries its request's), absent when unknown. */
  nodeid?: bigint;
  /** Message length (`len` of the header). */
  len: number;
  /** Reply error: 0 or a negative errno (replies only). */
  error?: number;
  /** The decoded request (requests only). */
  request?: FuseRequest;
  /** The decoded reply (replies only). */
  reply?: FuseReply;
  /** The decoded notification (notifications only). */
  notification?: FuseNotification;
  /** Frame number of the request a reply answers. */
  request_frame?: number;
  /** Reply time minus request time, in nanoseconds. */
  latency_ns?: bigint;
  /** The request a reply answers had been interrupted. */
  interrupted?: boolean;
}

/** The vhost-user side of an event (the control channel's messages). */
export interface VhostUserEventFields {
  /** Request code. */
  request: number;
  /** Request name (`SET_MEM_TABLE`, `BACKEND_IOTLB_MSG`). */
  name: string;
  /** Header flags (version, REPLY 0x4, NEED_REPLY 0x8). */
  flags: number;
  /** Payload size from the header. */
  size: number;
  /** A reply (REPLY flag set). */
  reply: boolean;
}

/** One packet of a capture (or one message of a raw FUSE stream). */
export interface CaptureEvent {
  /** Frame number, 1-based, counted as Wireshark does (one per packet). */
  frame: number;
  /** Byte offset of the packet's block (or record, or message) in the file. */
  offset: number;
  /** Time since the Unix epoch in nanoseconds (0n in a raw FUSE stream). */
  time_ns: bigint;
  /** Channel: the interface's name (`vq1`, `/dev/fuse`, `vhost-user`), `if<n>` when unnamed, `stream` for a raw stream. */
  channel: string;
  /** Interface index within its section (0 for pcap and raw streams). */
  interface_id: number;
  /** What the packet holds. */
  kind: EventKind;
  /** `inbound` travels to the backend (requests, kicks), `outbound` from it. */
  direction: Direction;
  /** Virtqueue index, when the record was on a virtqueue. */
  queue?: number;
  /** Negotiated FUSE minor the record header gives. */
  fuse_minor?: number;
  /** File descriptors passed with a vhost-user message. */
  fd_count?: number;
  /** Descriptor chain layout, when the record has one. */
  chain?: ChainSummary;
  /** Record header flags (RECORD_FLAG_*), for ringside records. */
  record_flags?: number;
  /** What was wrong with a malformed chain, when the record header says. */
  malformation?: Malformation;
  /** The FUSE message, decoded (as far as it goes when `error` is set). */
  fuse?: FuseEventFields;
  /** The vhost-user message header, decoded. */
  vhost_user?: VhostUserEventFields;
  /** Why this packet's message (or record) did not decode; the stream goes on. */
  error?: CodecError;
  /** The raw message after the record header (the whole packet for a foreign capture): a view, do not keep it beyond the event's life if memory matters. */
  bytes: Uint8Array;
}

/** A request that no reply answered. */
export interface UnansweredRequest {
  /** Its frame number. */
  frame: number;
  /** Its time in nanoseconds. */
  time_ns: bigint;
  /** Its unique. */
  unique: bigint;
  /** Its opcode. */
  opcode: number;
  /** Its opcode name. */
  op: string;
  /** Its node id. */
  nodeid: bigint;
}

/** What a finished read found, besides the events. */
export interface EventSummary {
  /** The detected format, once known. */
  format?: CaptureFormat;
  /** Events (frames) produced. */
  frames: number;
  /** Bytes read from the source. */
  bytesRead: number;
  /** Total size of the source, when known (files). */
  totalBytes?: number;
  /** Events that carry an `error`. */
  decodeErrors: number;
  /** Requests still waiting for a reply at the end (at most the pairing bound). */
  unanswered: UnansweredRequest[];
  /** All requests never answered: those listed plus those evicted from the bounded table. */
  unansweredCount: number;
  /** Requests evicted from the pairing table to keep it bounded (not in `unanswered`). */
  evicted: number;
  /** Replies whose unique matched no pending request. */
  unmatchedReplies: number;
  /** Damage that ended the read early, when there was some. */
  damage?: CodecError;
  /** True once the source has been read to its end (or to the damage). */
  done: boolean;
}

/** Options for {@linkcode readEvents}. */
export interface ReadEventsOptions {
  /** Skip detection and read this format. */
  format?: CaptureFormat;
  /** Bytes per read (default 1 MiB). */
  chunkBytes?: number;
  /** Most requests waiting for a reply kept in the pairing table (default 4096). */
  maxPending?: number;
  /** Called after each chunk with bytes read so far and the total (when known). */
  onProgress?: (bytesRead: number, totalBytes: number | undefined) => void;
  /** At damage: `throw` (default) ends the iteration with the CodecError; `stop` ends it quietly (see `summary.damage`). */
  onDamage?: "throw" | "stop";
  /** FUSE minor to assume until INIT is seen or a record header says (default 45). */
  minor?: number;
}

/** Where events come from: a file path, an open file, or chunks. */
export type EventSource =
  | string
  | URL
  | Deno.FsFile
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>;

/** The events of a capture, and (filled as it is read) its {@linkcode EventSummary}. */
export interface EventStream extends AsyncIterable<CaptureEvent> {
  /** What the read found; complete once iteration has finished. */
  readonly summary: EventSummary;
}

interface Pending {
  frame: number;
  time_ns: bigint;
  /** What decodeReply needs: the opcode, the header, and GETXATTR/LISTXATTR's asked size. */
  slim: FuseRequest;
}

const SLIM_BODY = Object.freeze({});
const DEFAULT_CHUNK = 1 << 20;
const DEFAULT_MAX_PENDING = 4096;

/** The part of a decoded request a reply needs, without payload views (so no chunk is pinned). */
function slimRequest(req: FuseRequest): FuseRequest {
  const body = req.op === "GETXATTR" || req.op === "LISTXATTR"
    ? { size: req.body.size }
    : SLIM_BODY;
  return { op: req.op, header: req.header, body } as FuseRequest;
}

function le32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

function le64(b: Uint8Array, p: number): bigint {
  return (BigInt(le32(b, p + 4)) << 32n) | BigInt(le32(b, p));
}

/**
 * The pairing state of one FUSE session: requests waiting for replies
 * (bounded), interrupts, and what INIT negotiated.
 */
class Pairing {
  minor: number;
  setxattrExt = false;
  pending = new Map<bigint, Pending>();
  /** interrupted request's unique → the INTERRUPT's unique */
  interrupts = new Map<bigint, bigint>();
  evicted = 0;
  unmatched = 0;
  #max: number;

  constructor(minor: number, max: number) {
    this.minor = minor;
    this.#max = Math.max(1, max);
  }

  add(unique: bigint, p: Pending): void {
    if (this.pending.size >= this.#max && !this.pending.has(unique)) {
      const oldest = this.pending.keys().next().value as bigint;
      this.pending.delete(oldest);
      this.evicted++;
    }
    this.pending.set(unique, p);
  }

  /** The pending request `unique` answers (and forgets it), if any. */
  take(unique: bigint): Pending | undefined {
    let key = unique;
    let p = this.pending.get(key);
    if (p === undefined && (unique & FUSE_UNIQUE_RESEND) !== 0n) {
      key = unique & ~FUSE_UNIQUE_RESEND;
      p = this.pending.get(key);
    }
    if (p === undefined) return undefined;
    this.pending.delete(key);
    return p;
  }

  learnInit(req: FuseRequest, reply: FuseReply): void {
    if (req.op !== "INIT" || reply.op !== "INIT" || reply.body === null) return;
    if (reply.body.major !== 7) return;
    this.minor = Math.min(req.body.minor, reply.body.minor);
    const ext = (f: number) => (f & Number(InitFlag.INIT_EXT)) !== 0;
    const offered = initFlagsWord(req.body.flags, ext(req.body.flags) ? req.body.flags2 : 0);
    const accepted = initFlagsWord(
      reply.body.flags,
      ext(reply.body.flags) ? reply.body.flags2 : 0,
    );
    this.setxattrExt = ((offered & accepted) & InitFlag.SETXATTR_EXT) !== 0n;
  }
}

/** Reads `source` in chunks of fresh buffers (the readers keep views into them). */
async function* chunksOf(
  source: EventSource,
  chunkBytes: number,
  summary: EventSummary,
  onProgress: ReadEventsOptions["onProgress"],
): AsyncGenerator<Uint8Array> {
  if (typeof source === "string" || source instanceof URL || source instanceof Deno.FsFile) {
    const own = !(source instanceof Deno.FsFile);
    const file = own ? await Deno.open(source as string | URL, { read: true }) : source;
    try {
      summary.totalBytes = (await file.stat()).size;
      for (;;) {
        const buf = new Uint8Array(chunkBytes);
        let n = 0;
        // fill the chunk (reads may return less)
        while (n < chunkBytes) {
          const r = await file.read(buf.subarray(n));
          if (r === null) break;
          n += r;
        }
        if (n === 0) break;
        summary.bytesRead += n;
        onProgress?.(summary.bytesRead, summary.totalBytes);
        yield n === chunkBytes ? buf : buf.subarray(0, n);
        if (n < chunkBytes) break;
      }
    } finally {
      if (own) file.close();
    }
    return;
  }
  for await (const c of source as AsyncIterable<Uint8Array>) {
    summary.bytesRead += c.length;
    onProgress?.(summary.bytesRead, summary.totalBytes);
    yield c;
  }
}

/**
 * Reads the events of a capture: pcapng, classic pcap or a raw FUSE stream
 * (detected). Iterate it once with `for await`; `summary` is complete when
 * the loop ends. At container damage the iteration throws the
 * {@linkcode CodecError} (its message names the byte offset) after the last
 * good event, unless `onDamage: "stop"`.
 *
 * @example
 * ```ts
 * import { readEvents } from "./events.ts";
 * for await (const ev of readEvents("capture.pcapng", { onProgress: (n, t) => {} })) {
 *   if (ev.error) console.log(`frame ${ev.frame}: ${ev.error.message}`);
 * }
 * ```
 */
export function readEvents(source: EventSource, options: ReadEventsOptions = {}): EventStream {
  const summary: EventSummary = {
    frames: 0,
    bytesRead: 0,
    decodeErrors: 0,
    unanswered: [],
    unansweredCount: 0,
    evicted: 0,
    unmatchedReplies: 0,
    done: false,
  };
  let started = false;
  return {
    summary,
    [Symbol.asyncIterator](): AsyncIterator<CaptureEvent> {
      if (started) throw new Error("readEvents: a stream can be iterated only once");
      started = true;
      return iterate(source, options, summary);
    },
  };
}

async function* iterate(
  source: EventSource,
  options: ReadEventsOptions,
  summary: EventSummary,
): AsyncGenerator<CaptureEvent> {
  const reader = new CaptureReader({ format: options.format });
  const decoder = new EventDecoder(options);
  const finish = () => {
    decoder.finish(summary);
    summary.done = true;
  };
  try {
    for await (
      const chunk of chunksOf(
        source,
        options.chunkBytes ?? DEFAULT_CHUNK,
        summary,
        options.onProgress,
      )
    ) {
      reader.push(chunk);
      for (let item = reader.next(); item !== undefined; item = reader.next()) {
        summary.format ??= reader.format;
        const ev = decoder.item(item);
        if (ev !== undefined) {
          summary.frames++;
          if (ev.error !== undefined) summary.decodeErrors++;
          yield ev;
        }
      }
    }
    reader.end();
    for (let item = reader.next(); item !== undefined; item = reader.next()) {
      summary.format ??= reader.format;
      const ev = decoder.item(item);
      if (ev !== undefined) {
        summary.frames++;
        if (ev.error !== undefined) summary.decodeErrors++;
        yield ev;
      }
    }
    summary.format ??= reader.format;
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    summary.format ??= reader.format;
    summary.damage = e;
    finish();
    if (options.onDamage === "stop") return;
    throw e;
  }
  finish();
}

interface IfaceInfo {
  name: string;
  linkType: number;
}

/**
 * Turns capture items into events: the per-section interface table, the
 * FUSE pairing, frame numbers. Exposed for callers that push items
 * themselves (a live recorder's observer, tests).
 */
export class EventDecoder {
  #ifaces: IfaceInfo[] = [];
  #frame = 0;
  #pairing: Pairing;
  #forcedMinor: boolean;
  #initRequest: FuseRequest | undefined;

  /** Builds a decoder; `options.minor` and `options.maxPending` as for {@linkcode readEvents}. */
  constructor(options: Pick<ReadEventsOptions, "minor" | "maxPending"> = {}) {
    this.#forcedMinor = options.minor !== undefined;
    this.#pairing = new Pairing(
      options.minor ?? FUSE_KERNEL_MINOR_VERSION,
      options.maxPending ?? DEFAULT_MAX_PENDING,
    );
  }

  /** The FUSE minor currently used to decode (from INIT, a record header, or the option). */
  get minor(): number {
    return this.#pairing.minor;
  }

  /** The event for one capture item, or `undefined` for items that are not packets. */
  item(item: CaptureItem): CaptureEvent | undefined {
    switch (item.kind) {
      case "section":
        this.#ifaces = [];
        return undefined;
      case "interface":
        this.#ifaces[item.interfaceId] = {
          name: item.name ?? `if${item.interfaceId}`,
          linkType: item.linkType,
        };
        return undefined;
      case "other":
        return undefined;
      case "message":
        return this.#raw(item.offset, 0n, "stream", 0, item.data, undefined);
      case "packet": {
        const iface = this.#ifaces[item.interfaceId];
        const channel = iface?.name ?? `if${item.interfaceId}`;
        if (iface === undefined || iface.linkType === LINKTYPE_WIRESHARK_UPPER_PDU) {
          return this.#record(item.offset, item.timestampNs, channel, item.interfaceId, item.data);
        }
        return this.#raw(
          item.offset,
          item.timestampNs,
          channel,
          item.interfaceId,
          item.data,
          item.direction,
        );
      }
    }
  }

  /** Fills the end-of-read fields of `summary` (unanswered requests, counts). */
  finish(summary: EventSummary): void {
    const p = this.#pairing;
    summary.unanswered = [...p.pending.values()].map((x) => ({
      frame: x.frame,
      time_ns: x.time_ns,
      unique: x.slim.header.unique,
      opcode: x.slim.header.opcode,
      op: opcodeName(x.slim.header.opcode),
      nodeid: x.slim.header.nodeid,
    }));
    summary.evicted = p.evicted;
    summary.unansweredCount = summary.unanswered.length + p.evicted;
    summary.unmatchedReplies = p.unmatched;
  }

  #record(
    offset: number,
    time_ns: bigint,
    channel: string,
    interface_id: number,
    data: Uint8Array,
  ): CaptureEvent {
    const frame = ++this.#frame;
    let rec;
    try {
      rec = decodeRecord(data);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      return {
        frame,
        offset,
        time_ns,
        channel,
        interface_id,
        kind: "fuse_request",
        direction: "inbound",
        error: e,
        bytes: data,
      };
    }
    const h = rec.header;
    const ev: CaptureEvent = {
      frame,
      offset,
      time_ns,
      channel,
      interface_id,
      kind: h.kind,
      direction: recordDirection(h.kind),
      bytes: rec.payload,
    };
    if (h.queue !== undefined) ev.queue = h.queue;
    if (h.fuseMinor !== undefined) ev.fuse_minor = h.fuseMinor;
    if (h.kind === "vhost_user_front_to_back" || h.kind === "vhost_user_back_to_front") {
      ev.fd_count = h.fdCount;
    }
    if (h.chain !== undefined) ev.chain = h.chain;
    ev.record_flags = h.flags;
    if (h.malformation !== undefined) ev.malformation = h.malformation;
    if (h.fuseMinor !== undefined && !this.#forcedMinor) this.#pairing.minor = h.fuseMinor;
    switch (h.kind) {
      case "fuse_request":
        this.#request(ev);
        break;
      case "fuse_reply":
      case "fuse_notify":
        this.#reply(ev);
        break;
      case "vhost_user_front_to_back":
      case "vhost_user_back_to_front":
        this.#vhostUser(ev, h.kind === "vhost_user_back_to_front");
        break;
    }
    return ev;
  }

  /** A packet that is a bare FUSE message: the direction from epb_flags, else from the header's shape. */
  #raw(
    offset: number,
    time_ns: bigint,
    channel: string,
    interface_id: number,
    data: Uint8Array,
    direction: Direction | undefined,
  ): CaptureEvent {
    const frame = ++this.#frame;
    let kind: EventKind;
    if (direction === "inbound") kind = "fuse_request";
    else if (direction === "outbound") {
      kind = data.length >= 16 && le64(data, 8) === 0n ? "fuse_notify" : "fuse_reply";
    } else kind = this.#guessKind(data);
    const ev: CaptureEvent = {
      frame,
      offset,
      time_ns,
      channel,
      interface_id,
      kind,
      direction: recordDirection(kind),
      bytes: data,
    };
    if (kind === "fuse_request") this.#request(ev);
    else this.#reply(ev);
    return ev;
  }

  /**
   * Tells a request from a reply in a stream that mixes both: both headers
   * have `unique` at byte 8; a reply's second word is 0 or a negative errno
   * and its unique is pending, a notification has unique 0.
   */
  #guessKind(b: Uint8Array): EventKind {
    if (b.length < 16) return "fuse_request";
    const unique = le64(b, 8);
    const second = le32(b, 4) | 0;
    if (unique === 0n) return "fuse_notify";
    if (second <= 0 && second > -4096 && this.#pairing.pending.has(unique)) return "fuse_reply";
    return "fuse_request";
  }

  #request(ev: CaptureEvent): void {
    const b = ev.bytes;
    const p = this.#pairing;
    try {
      const req = decodeRequest(b, { minor: p.minor, setxattrExt: p.setxattrExt });
      const h = req.header;
      ev.fuse = {
        opcode: h.opcode,
        op: req.op === "UNKNOWN" ? opcodeName(h.opcode) : req.op,
        unique: h.unique,
        nodeid: h.nodeid,
        len: h.len,
        request: req,
      };
      if (!opcodeHasNoReply(h.opcode)) {
        p.add(h.unique, { frame: ev.frame, time_ns: ev.time_ns, slim: slimRequest(req) });
        if (req.op === "INTERRUPT") p.interrupts.set(req.body.unique, h.unique);
        // INIT is small and kept whole, so its reply can settle the minor
        if (req.op === "INIT") this.#initRequest = req;
      }
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      ev.error = e;
      if (b.length >= 24) {
        const opcode = le32(b, 4);
        const unique = le64(b, 8);
        const nodeid = le64(b, 16);
        ev.fuse = { opcode, op: opcodeName(opcode), unique, nodeid, len: le32(b, 0) };
        if (b.length >= 40 && unique !== 0n && !opcodeHasNoReply(opcode)) {
          // still pair its reply by the header alone
          const header = { len: le32(b, 0), opcode, unique, nodeid, uid: 0, gid: 0, pid: 0 };
          const slim = { op: "UNKNOWN", header: { ...header, total_extlen: 0 }, body: SLIM_BODY };
          p.add(unique, { frame: ev.frame, time_ns: ev.time_ns, slim: slim as FuseRequest });
        }
      }
    }
  }

  #reply(ev: CaptureEvent): void {
    const b = ev.bytes;
    const p = this.#pairing;
    if (b.length < 16) {
      ev.error = new CodecError(
        "fuse_out_header",
        0,
        `expected at least 16 bytes, found ${b.length}`,
      );
      return;
    }
    const len = le32(b, 0);
    const second = le32(b, 4) | 0;
    const unique = le64(b, 8);
    if (unique === 0n) {
      ev.kind = "fuse_notify";
      ev.fuse = { opcode: second, op: `NOTIFY_${notifyName(second) ?? second}`, unique, len };
      try {
        const n = decodeNotification(b);
        ev.fuse.notification = n;
        ev.fuse.op = n.op;
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
        ev.error = e;
      }
      return;
    }
    ev.kind = "fuse_reply";
    const pending = p.take(unique);
    const req = pending?.slim;
    ev.fuse = {
      opcode: req?.header.opcode ?? 0,
      op: req === undefined ? "UNKNOWN" : opcodeName(req.header.opcode),
      unique,
      len,
      error: second,
    };
    if (req !== undefined) {
      ev.fuse.nodeid = req.header.nodeid;
      ev.fuse.request_frame = pending!.frame;
      ev.fuse.latency_ns = ev.time_ns - pending!.time_ns;
      const u = req.header.unique;
      const intr = p.interrupts.get(u);
      if (intr !== undefined) {
        ev.fuse.interrupted = true;
        p.interrupts.delete(u);
        p.pending.delete(intr); // the INTERRUPT needs no answer any more
      }
      if (req.op === "INTERRUPT") p.interrupts.delete(le64(ev.bytes, 8));
    } else {
      p.unmatched++;
    }
    try {
      const reply = decodeReply(b, { minor: p.minor, request: req });
      ev.fuse.reply = reply;
      if (req?.op === "INIT" && this.#initRequest !== undefined && !this.#forcedMinor) {
        p.learnInit(this.#initRequest, reply);
      }
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      ev.error = e;
    }
  }

  /** A vhost-user message; `backToFront` is its direction (replies travel against their request's). */
  #vhostUser(ev: CaptureEvent, backToFront: boolean): void {
    try {
      const h = decodeVhostUserHeader(ev.bytes);
      const reply = (h.flags & VHOST_USER_REPLY_MASK) !== 0;
      // a back-end request, or a reply to one, uses the back-end table
      const channel = backToFront !== reply ? "backend" : "frontend";
      ev.vhost_user = {
        request: h.request,
        name: requestName(h.request, { channel }),
        flags: h.flags,
        size: h.size,
        reply,
      };
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      ev.error = e;
    }
  }
}
