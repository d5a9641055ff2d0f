/**
 * Reading a capture as a stream of events: every packet of a pcapng or
 * classic pcap file, or every message of a raw FUSE stream (the format is
 * detected), becomes one {@linkcode CaptureEvent} with its frame number (as
 * Wireshark counts), time, channel, record header fields and the decoded
 * FUSE or vhost-user message. Replies are paired with their requests by
 * `unique` within one FUSE session (a pcapng section and a channel, where
 * the virtqueues of one device are one session) and decoded by the request's
 * opcode; they carry the request's frame number and the latency.
 *
 * Speed: packets are read in place (no copy, no per-packet block object),
 * header fields are kept as numbers (bigints are made when a u64 field is
 * read), and with `bodies: "lazy"` a message body is decoded only when asked
 * for; `batches()` hands out a chunk's events at once.
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
import {
  type CaptureFormat,
  type CaptureItem,
  CaptureReader,
  type ChainSummary,
  decodeRecord,
  type Direction,
  encodeRecordPrefix,
  LINKTYPE_WIRESHARK_UPPER_PDU,
  type Malformation,
  malformationName,
  NO_QUEUE,
  PacketSlot,
  RECORD_FLAG_CHAIN,
  RECORD_HEADER_LENGTH,
  RECORD_KIND_CODES,
  RECORD_PREFIX_LENGTH,
  RECORD_VERSION,
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
  Opcode,
  opcodeHasNoReply,
  opcodeName,
} from "../codecs/fuse/mod.ts";
import {
  decodeHeader as decodeVhostUserHeader,
  requestName,
  VHOST_USER_REPLY_MASK,
} from "../codecs/vhost_user/mod.ts";
import { bigOf, type Key, keyOf, le32, u64Key } from "./_wire.ts";
import { KeyTable } from "./_table.ts";

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
  /** `unique` as a number when below 2^53 (always, in practice), else the bigint: a cheap Map key. */
  uniqueKey: number | bigint;
  /** Node id: the request's (a reply carries its request's), absent when unknown. */
  nodeid?: bigint;
  /** `nodeid` as a number when below 2^53, else the bigint; absent when unknown. */
  nodeidKey?: number | bigint;
  /** Message length (`len` of the header). */
  len: number;
  /** Reply error: 0 or a negative errno (replies only). */
  error?: number;
  /** The decoded request (requests only; decoded on first access when read with `bodies: "lazy"`). */
  request?: FuseRequest;
  /** The decoded reply (replies only; decoded on first access when read with `bodies: "lazy"`). */
  reply?: FuseReply;
  /** The decoded notification (notifications only). */
  notification?: FuseNotification;
  /** Frame number of the request a reply answers. */
  request_frame?: number;
  /** Reply time minus request time, in nanoseconds. */
  latency_ns?: bigint;
  /** `latency_ns` as a number. */
  latency?: number;
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
  /** `time_ns` as a number: exact to a few hundred ns at today's dates, for arithmetic where that is enough. */
  time: number;
  /** Section of the capture (0 for the first; a recorder starts a new one per guest session). */
  section: number;
  /**
   * The FUSE session the event belongs to, numbered 0, 1, ... as they first
   * appear: the vhost-user channel and virtqueues of a section (one
   * virtio-fs device), or one other channel of a section (`/dev/fuse`, a
   * socket). Uniques, node ids and
   * handles mean something only within their session.
   */
  session: number;
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
  /**
   * Why this packet's message (or record) did not decode; the stream goes on.
   * With `bodies: "lazy"`, reading it decodes the message's body.
   */
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
  /** Events that carry an `error` (with `bodies: "lazy"`: of the messages whose body was decoded). */
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
  /**
   * Bytes of zeros the capture ends in, from a block boundary (0 when none):
   * the preallocated space an O_DIRECT recording that was interrupted leaves.
   * The read ends cleanly there.
   */
  zeroTailBytes: number;
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
  /**
   * `eager` (default): every FUSE message is decoded as it is read, so
   * `error` is known at once. `lazy`: only headers are read; a body is
   * decoded when `request`, `reply` or `error` is first read (the analyzers'
   * fast path).
   */
  bodies?: "eager" | "lazy";
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
  /**
   * The events in arrays (of up to a few hundred): the same events as iterating
   * the stream, without an await per event. Iterate either this or the
   * stream, once.
   */
  batches(): AsyncIterable<CaptureEvent[]>;
}

const TWO_32 = 4294967296;
const DEFAULT_CHUNK = 1 << 20;
/** Most events in one batch. */
const BATCH_EVENTS = 256;
const DEFAULT_MAX_PENDING = 4096;
const EMPTY = new Uint8Array(0);
const SLIM_BODY = Object.freeze({});
/** The Exported-PDU tags the recorder writes, as four little-endian words. */
const TAG_WORDS = (() => {
  const t = encodeRecordPrefix({ kind: "ring_kick" }).subarray(0, RECORD_PREFIX_LENGTH - 24);
  const out: number[] = [];
  for (let i = 0; i < t.length; i += 4) out.push(le32(t, i));
  return out;
})();
const TAGS_LENGTH = TAG_WORDS.length * 4;
const KIND_BY_CODE: (RecordKind | undefined)[] = [];
for (const [k, c] of Object.entries(RECORD_KIND_CODES)) KIND_BY_CODE[c] = k as RecordKind;

/** A request waiting for its reply. */
interface Pending {
  frame: number;
  timeHigh: number;
  timeLow: number;
  opcode: number;
  unique: Key;
  nodeid: Key;
  /** GETXATTR/LISTXATTR: the size asked for (-1 otherwise), which decides the reply's shape. */
  askSize: number;
}

/**
 * The pairing state of one FUSE session: requests waiting for replies
 * (bounded), interrupts, and what INIT negotiated.
 */
class Pairing {
  /** Its number, for {@linkcode CaptureEvent.session}, given at its first event (-1 before). */
  id = -1;
  minor: number;
  setxattrExt = false;
  pending = new KeyTable<Pending>();
  /** interrupted request's unique → the INTERRUPT's unique */
  interrupts = new Map<Key, Key>();
  initRequest: FuseRequest | undefined;
  #shared: PairingTotals;

  constructor(minor: number, shared: PairingTotals) {
    this.minor = minor;
    this.#shared = shared;
  }

  add(unique: Key, p: Pending): void {
    const s = this.#shared;
    if (this.pending.size >= s.max && !this.pending.has(unique)) {
      this.pending.delete(this.pending.oldest()!);
      s.evicted++;
    }
    this.pending.set(unique, p);
  }

  /** The pending request `unique` answers (and forgets it), if any. */
  take(unique: Key): Pending | undefined {
    let p = this.pending.get(unique);
    if (p === undefined) {
      if (typeof unique !== "bigint" || (unique & FUSE_UNIQUE_RESEND) === 0n) {
        this.#shared.unmatched++;
        return undefined;
      }
      unique = keyOf(unique & ~FUSE_UNIQUE_RESEND);
      p = this.pending.get(unique);
      if (p === undefined) {
        this.#shared.unmatched++;
        return undefined;
      }
    }
    this.pending.delete(unique);
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

/** Counts shared by every session's pairing. */
interface PairingTotals {
  max: number;
  evicted: number;
  unmatched: number;
}

/** Body decoding state of an event. */
const SETTLED = 0;
const REQUEST_BODY = 1;
const REPLY_BODY = 2;

/** The FUSE fields of an event; u64s as numbers, bigints made on access, bodies decoded on access. */
class FuseFields implements FuseEventFields {
  opcode: number;
  op: string;
  len: number;
  uniqueKey: Key;
  nodeidKey: Key | undefined;
  error: number | undefined = undefined;
  request_frame: number | undefined = undefined;
  latency: number | undefined = undefined;
  interrupted: boolean | undefined = undefined;
  notification: FuseNotification | undefined = undefined;
  /** The request's asked size for GETXATTR/LISTXATTR replies (-1 otherwise). */
  askSize = -1;
  decodedRequest: FuseRequest | undefined = undefined;
  decodedReply: FuseReply | undefined = undefined;
  #ev: EventRecord;

  constructor(
    ev: EventRecord,
    opcode: number,
    op: string,
    len: number,
    unique: Key,
    nodeid: Key | undefined,
  ) {
    this.#ev = ev;
    this.opcode = opcode;
    this.op = op;
    this.len = len;
    this.uniqueKey = unique;
    this.nodeidKey = nodeid;
  }

  get unique(): bigint {
    return bigOf(this.uniqueKey);
  }

  get nodeid(): bigint | undefined {
    return this.nodeidKey === undefined ? undefined : bigOf(this.nodeidKey);
  }

  get latency_ns(): bigint | undefined {
    return this.latency === undefined ? undefined : BigInt(this.latency);
  }

  get request(): FuseRequest | undefined {
    this.#ev.settle();
    return this.decodedRequest;
  }

  get reply(): FuseReply | undefined {
    this.#ev.settle();
    return this.decodedReply;
  }

  toJSON(): Record<string, unknown> {
    return {
      opcode: this.opcode,
      op: this.op,
      unique: String(this.unique),
      nodeid: this.nodeid === undefined ? undefined : String(this.nodeid),
      len: this.len,
      error: this.error,
      request_frame: this.request_frame,
      latency_ns: this.latency,
      interrupted: this.interrupted,
    };
  }
}

/** One event: fields as numbers and views made on access. */
class EventRecord implements CaptureEvent {
  frame: number;
  offset: number;
  section: number;
  session = 0;
  channel: string;
  interface_id: number;
  kind: EventKind;
  direction: Direction;
  time: number;
  queue: number | undefined = undefined;
  fuse_minor: number | undefined = undefined;
  fd_count: number | undefined = undefined;
  record_flags: number | undefined = undefined;
  malformation: Malformation | undefined = undefined;
  fuse: FuseFields | undefined = undefined;
  vhost_user: VhostUserEventFields | undefined = undefined;
  timeHigh: number;
  timeLow: number;
  /** The packet data's array, where the message starts and ends in it. */
  array: Uint8Array;
  start: number;
  end: number;
  /** Where the record header starts in `array` (-1 without one). */
  header = -1;
  state = SETTLED;
  /** The minor (and SETXATTR_EXT) the message is decoded with. */
  minor = 0;
  setxattrExt = false;
  #error: CodecError | undefined = undefined;
  #bytes: Uint8Array | undefined = undefined;
  #chain: ChainSummary | undefined = undefined;
  #decoder: EventDecoder;

  constructor(
    decoder: EventDecoder,
    frame: number,
    slot: PacketSlot,
    channel: string,
    start: number,
    section: number,
  ) {
    this.#decoder = decoder;
    this.frame = frame;
    this.offset = slot.offset;
    this.section = section;
    this.channel = channel;
    this.interface_id = slot.interfaceId;
    this.kind = "fuse_request";
    this.direction = "inbound";
    this.timeHigh = slot.timeHigh;
    this.timeLow = slot.timeLow;
    this.time = slot.timeHigh * TWO_32 + slot.timeLow;
    this.array = slot.array;
    this.start = start;
    this.end = slot.end;
  }

  get time_ns(): bigint {
    return (BigInt(this.timeHigh) << 32n) | BigInt(this.timeLow);
  }

  get bytes(): Uint8Array {
    if (this.#bytes === undefined) {
      const a = this.array;
      this.#bytes = this.start === 0 && this.end === a.length
        ? a
        : this.start === this.end
        ? EMPTY
        : a.subarray(this.start, this.end);
    }
    return this.#bytes;
  }

  get chain(): ChainSummary | undefined {
    if (this.#chain === undefined && this.header >= 0 && (this.record_flags! & RECORD_FLAG_CHAIN)) {
      const b = this.array;
      const p = this.header;
      this.#chain = {
        head: b[p + 8] | (b[p + 9] << 8),
        descriptors: b[p + 10] | (b[p + 11] << 8),
        readableBytes: le32(b, p + 12),
        writableBytes: le32(b, p + 16),
      };
    }
    return this.#chain;
  }

  get error(): CodecError | undefined {
    if (this.state !== SETTLED) this.settle();
    return this.#error;
  }

  /** Records an error found while reading (counted once). */
  fail(e: CodecError): void {
    if (this.#error === undefined) this.#decoder.decodeErrors++;
    this.#error = e;
  }

  /** Decodes the body, when that was left for later. */
  settle(): void {
    const state = this.state;
    if (state === SETTLED) return;
    this.state = SETTLED;
    const f = this.fuse!;
    try {
      if (state === REQUEST_BODY) {
        f.decodedRequest = decodeRequest(this.bytes, {
          minor: this.minor,
          setxattrExt: this.setxattrExt,
        });
      } else {
        let request: FuseRequest | undefined;
        if (f.request_frame !== undefined) {
          const body = f.askSize >= 0 ? { size: f.askSize } : SLIM_BODY;
          request = {
            op: "UNKNOWN",
            header: { opcode: f.opcode, unique: f.unique, nodeid: f.nodeid },
            body,
          } as unknown as FuseRequest;
        }
        f.decodedReply = decodeReply(this.bytes, { minor: this.minor, request });
      }
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      this.fail(e);
    }
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
          // a synchronous read: no hop through the I/O thread pool per chunk
          const r = file.readSync(buf.subarray(n));
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
 * (detected). Iterate it once with `for await` (or its `batches()`);
 * `summary` is complete when the loop ends. At container damage the
 * iteration throws the {@linkcode CodecError} (its message names the byte
 * offset) after the last good event, unless `onDamage: "stop"`.
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
    zeroTailBytes: 0,
    done: false,
  };
  let started = false;
  const start = () => {
    if (started) throw new Error("readEvents: a stream can be iterated only once");
    started = true;
    return iterateBatches(source, options, summary);
  };
  return {
    summary,
    batches(): AsyncIterable<CaptureEvent[]> {
      return { [Symbol.asyncIterator]: () => start() };
    },
    [Symbol.asyncIterator](): AsyncIterator<CaptureEvent> {
      return flatten(start());
    },
  };
}

async function* flatten(batches: AsyncGenerator<CaptureEvent[]>): AsyncGenerator<CaptureEvent> {
  for await (const batch of batches) yield* batch;
}

async function* iterateBatches(
  source: EventSource,
  options: ReadEventsOptions,
  summary: EventSummary,
): AsyncGenerator<CaptureEvent[]> {
  const reader = new CaptureReader({ format: options.format });
  const decoder = new EventDecoder(options);
  const slot = new PacketSlot();
  const eager = options.bodies !== "lazy";
  let damage: CodecError | undefined;
  /** Set when the reader needs more input. */
  let dry = false;
  // small batches: events die young (a batch per 1 MiB chunk kept ~9k events alive
  // across scavenges, and copying them cost more than decoding them)
  const drain = (): CaptureEvent[] => {
    const batch: CaptureEvent[] = [];
    try {
      while (batch.length < BATCH_EVENTS) {
        const item = reader.nextInto(slot);
        if (item === undefined) {
          dry = true;
          break;
        }
        const ev = item === slot ? decoder.packet(slot) : decoder.item(item as CaptureItem);
        if (ev !== undefined) {
          if (eager) ev.error;
          batch.push(ev);
        }
      }
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      damage = e;
    }
    summary.format ??= reader.format;
    summary.frames += batch.length;
    summary.decodeErrors = decoder.decodeErrors;
    return batch;
  };
  const stop = () => {
    decoder.finish(summary);
    summary.damage = damage;
    summary.zeroTailBytes = reader.zeroTailBytes;
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
      dry = false;
      while (!dry && damage === undefined) {
        const batch = drain();
        if (batch.length > 0) yield batch;
      }
      if (damage !== undefined) break;
    }
    if (damage === undefined) {
      reader.end();
      dry = false;
      while (!dry && damage === undefined) {
        const batch = drain();
        if (batch.length > 0) yield batch;
      }
    }
  } catch (e) {
    if (!(e instanceof CodecError)) throw e;
    damage ??= e;
  }
  stop();
  if (damage !== undefined && options.onDamage !== "stop") throw damage;
}

interface IfaceInfo {
  name: string;
  linkType: number;
  /** The FUSE session its messages belong to. */
  session: Pairing;
}

/**
 * The session of a channel within its section: the vhost-user control
 * channel and the virtqueues of a device are one session; any other channel
 * is one of its own.
 */
function sessionName(name: string | undefined, interfaceId: number): string {
  return name !== undefined && (/^vq\d+$/.test(name) || name === "vhost-user")
    ? "virtio-fs"
    : `if${interfaceId}`;
}

/** The requests `p` still waits for. */
function unansweredOf(p: Pairing): UnansweredRequest[] {
  return p.pending.values().map((x) => ({
    frame: x.frame,
    time_ns: (BigInt(x.timeHigh) << 32n) | BigInt(x.timeLow),
    unique: bigOf(x.unique),
    opcode: x.opcode,
    op: opcodeName(x.opcode),
    nodeid: bigOf(x.nodeid),
  }));
}

/**
 * Turns capture items into events: the per-section interface table, the
 * FUSE pairing (one per session), frame numbers. Exposed for callers that
 * push items themselves (a live recorder's observer, tests).
 */
export class EventDecoder {
  /** Events found not to decode so far. */
  decodeErrors = 0;
  #ifaces: IfaceInfo[] = [];
  #sessions = new Map<string, Pairing>();
  #section = -1;
  #nextSession = 0;
  /** Requests of sessions already over (earlier sections) that no reply answered. */
  #leftOver: UnansweredRequest[] = [];
  #frame = 0;
  #totals: PairingTotals;
  #startMinor: number;
  #forcedMinor: boolean;
  #lastSession: Pairing | undefined;
  #slot = new PacketSlot();

  /** Builds a decoder; `options.minor` and `options.maxPending` as for {@linkcode readEvents}. */
  constructor(options: Pick<ReadEventsOptions, "minor" | "maxPending"> = {}) {
    this.#forcedMinor = options.minor !== undefined;
    this.#startMinor = options.minor ?? FUSE_KERNEL_MINOR_VERSION;
    this.#totals = {
      max: Math.max(1, options.maxPending ?? DEFAULT_MAX_PENDING),
      evicted: 0,
      unmatched: 0,
    };
  }

  /** The FUSE minor currently used to decode (from INIT, a record header, or the option), of the last session seen. */
  get minor(): number {
    return this.#lastSession?.minor ?? this.#startMinor;
  }

  #session(name: string): Pairing {
    let p = this.#sessions.get(name);
    if (p === undefined) {
      p = new Pairing(this.#startMinor, this.#totals);
      this.#sessions.set(name, p);
    }
    return p;
  }

  /** The event for one capture item, or `undefined` for items that are not packets. */
  item(item: CaptureItem): CaptureEvent | undefined {
    switch (item.kind) {
      case "section":
        this.#newSection();
        return undefined;
      case "interface":
        if (this.#section < 0) this.#newSection();
        this.#ifaces[item.interfaceId] = {
          name: item.name ?? `if${item.interfaceId}`,
          linkType: item.linkType,
          session: this.#session(sessionName(item.name, item.interfaceId)),
        };
        return undefined;
      case "other":
        return undefined;
      case "message": {
        const s = this.#slot;
        s.offset = item.offset;
        s.interfaceId = 0;
        s.timeHigh = 0;
        s.timeLow = 0;
        s.array = item.data;
        s.start = 0;
        s.end = item.data.length;
        s.flags = 0;
        return this.#raw(s, "stream", this.#session("stream"));
      }
      case "packet":
        return this.packet(this.#slot.fill(item));
    }
  }

  #newSection(): void {
    this.#section++;
    this.#ifaces = [];
    // the sessions of the section before are over: keep what they left unanswered
    for (const p of this.#sessions.values()) this.#leftOver.push(...unansweredOf(p));
    const max = this.#totals.max;
    if (this.#leftOver.length > max) {
      this.#totals.evicted += this.#leftOver.length - max;
      this.#leftOver.splice(0, this.#leftOver.length - max);
    }
    this.#sessions.clear();
  }

  /** The event for a packet read into `slot` (see `PcapngReader.nextInto`). */
  packet(slot: PacketSlot): CaptureEvent {
    let iface = this.#ifaces[slot.interfaceId];
    if (iface === undefined) {
      if (this.#section < 0) this.#newSection();
      iface = {
        name: `if${slot.interfaceId}`,
        linkType: LINKTYPE_WIRESHARK_UPPER_PDU,
        session: this.#session(sessionName(undefined, slot.interfaceId)),
      };
      this.#ifaces[slot.interfaceId] = iface;
    }
    if (iface.linkType === LINKTYPE_WIRESHARK_UPPER_PDU) return this.#record(slot, iface);
    return this.#raw(slot, iface.name, iface.session);
  }

  /** Fills the end-of-read fields of `summary` (unanswered requests, counts). */
  finish(summary: EventSummary): void {
    const unanswered = [...this.#leftOver];
    for (const p of this.#sessions.values()) unanswered.push(...unansweredOf(p));
    unanswered.sort((a, b) => a.frame - b.frame);
    summary.unanswered = unanswered;
    summary.evicted = this.#totals.evicted;
    summary.unansweredCount = unanswered.length + this.#totals.evicted;
    summary.unmatchedReplies = this.#totals.unmatched;
    summary.decodeErrors = this.decodeErrors;
  }

  #record(slot: PacketSlot, iface: IfaceInfo): CaptureEvent {
    const frame = ++this.#frame;
    const b = slot.array;
    const s = slot.start;
    const ev = new EventRecord(this, frame, slot, iface.name, s, this.#section);
    if (iface.session.id < 0) iface.session.id = this.#nextSession++;
    ev.session = iface.session.id;
    // the common case: exactly the tags the recorder writes, a version-1 header
    let h = s + TAGS_LENGTH;
    let kind: RecordKind | undefined;
    if (
      slot.end - s >= TAGS_LENGTH + RECORD_HEADER_LENGTH && le32(b, s) === TAG_WORDS[0] &&
      le32(b, s + 4) === TAG_WORDS[1] && le32(b, s + 8) === TAG_WORDS[2] &&
      le32(b, s + 12) === TAG_WORDS[3] && b[h] === RECORD_VERSION &&
      b[h + 1] === RECORD_HEADER_LENGTH
    ) {
      kind = KIND_BY_CODE[b[h + 2]];
    }
    if (kind === undefined) {
      // anything else goes through the codec, which says what is wrong
      try {
        const rec = decodeRecord(b.subarray(s, slot.end));
        kind = rec.header.kind;
        h = s + rec.payloadOffset - rec.header.headerLength;
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
        ev.fail(e);
        return ev;
      }
    }
    ev.start = h + b[h + 1];
    ev.header = h;
    ev.kind = kind;
    ev.direction = recordDirection(kind);
    const flags = b[h + 4] | (b[h + 5] << 8);
    const queue = b[h + 6] | (b[h + 7] << 8);
    const minor = b[h + 20] | (b[h + 21] << 8);
    ev.record_flags = flags;
    if (queue !== NO_QUEUE) ev.queue = queue;
    if (b[h + 22] !== 0) ev.malformation = malformationName(b[h + 22]);
    const p = iface.session;
    this.#lastSession = p;
    if (minor !== 0) {
      ev.fuse_minor = minor;
      if (!this.#forcedMinor) p.minor = minor;
    }
    switch (kind) {
      case "fuse_request":
        this.#request(ev, p);
        break;
      case "fuse_reply":
      case "fuse_notify":
        this.#reply(ev, p);
        break;
      case "vhost_user_front_to_back":
      case "vhost_user_back_to_front":
        ev.fd_count = b[h + 3];
        this.#vhostUser(ev, kind === "vhost_user_back_to_front");
        break;
    }
    return ev;
  }

  /** A packet that is a bare FUSE message: the direction from epb_flags, else from the header's shape. */
  #raw(slot: PacketSlot, channel: string, p: Pairing): CaptureEvent {
    const frame = ++this.#frame;
    const ev = new EventRecord(this, frame, slot, channel, slot.start, this.#section);
    const b = slot.array;
    const s = slot.start;
    const n = slot.end - s;
    const dir = slot.flags & 3;
    let kind: EventKind;
    if (dir === 1) kind = "fuse_request";
    else if (dir === 2) {
      kind = n >= 16 && le32(b, s + 8) === 0 && le32(b, s + 12) === 0
        ? "fuse_notify"
        : "fuse_reply";
    } else kind = this.#guessKind(b, s, n, p);
    ev.kind = kind;
    ev.direction = recordDirection(kind);
    if (p.id < 0) p.id = this.#nextSession++;
    ev.session = p.id;
    this.#lastSession = p;
    if (kind === "fuse_request") this.#request(ev, p);
    else this.#reply(ev, p);
    return ev;
  }

  /**
   * Tells a request from a reply in a stream that mixes both: both headers
   * have `unique` at byte 8; a reply's second word is 0 or a negative errno
   * and its unique is pending, a notification has unique 0.
   */
  #guessKind(b: Uint8Array, s: number, n: number, p: Pairing): EventKind {
    if (n < 16) return "fuse_request";
    const unique = u64Key(b, s + 8);
    const second = le32(b, s + 4) | 0;
    if (unique === 0) return "fuse_notify";
    if (second <= 0 && second > -4096 && p.pending.has(unique)) return "fuse_reply";
    return "fuse_request";
  }

  #request(ev: EventRecord, p: Pairing): void {
    const b = ev.array;
    const s = ev.start;
    const n = ev.end - s;
    ev.minor = p.minor;
    ev.setxattrExt = p.setxattrExt;
    if (n < 40) {
      // too short for fuse_in_header: the codec says why
      try {
        decodeRequest(ev.bytes, { minor: p.minor });
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
        ev.fail(e);
      }
      if (n >= 24) {
        const opcode = le32(b, s + 4);
        ev.fuse = new FuseFields(
          ev,
          opcode,
          opcodeName(opcode),
          le32(b, s),
          u64Key(b, s + 8),
          u64Key(b, s + 16),
        );
      }
      return;
    }
    const opcode = le32(b, s + 4);
    const unique = u64Key(b, s + 8);
    const nodeid = u64Key(b, s + 16);
    const f = new FuseFields(ev, opcode, opcodeName(opcode), le32(b, s), unique, nodeid);
    ev.fuse = f;
    ev.state = REQUEST_BODY;
    if (opcodeHasNoReply(opcode)) return;
    let askSize = -1;
    if ((opcode === Opcode.GETXATTR || opcode === Opcode.LISTXATTR) && n >= 44) {
      askSize = le32(b, s + 40);
    } else if (opcode === Opcode.INTERRUPT && n >= 48) {
      p.interrupts.set(u64Key(b, s + 40), unique);
    } else if (opcode === Opcode.INIT) {
      // INIT is small and kept whole, so its reply can settle the minor
      ev.settle();
      p.initRequest = f.decodedRequest;
    }
    p.add(unique, {
      frame: ev.frame,
      timeHigh: ev.timeHigh,
      timeLow: ev.timeLow,
      opcode,
      unique,
      nodeid,
      askSize,
    });
  }

  #reply(ev: EventRecord, p: Pairing): void {
    const b = ev.array;
    const s = ev.start;
    const n = ev.end - s;
    if (n < 16) {
      ev.fail(new CodecError("fuse_out_header", 0, `expected at least 16 bytes, found ${n}`));
      return;
    }
    const len = le32(b, s);
    const second = le32(b, s + 4) | 0;
    const unique = u64Key(b, s + 8);
    ev.minor = p.minor;
    if (unique === 0) {
      ev.kind = "fuse_notify";
      const f = new FuseFields(
        ev,
        second,
        `NOTIFY_${notifyName(second) ?? second}`,
        len,
        unique,
        undefined,
      );
      ev.fuse = f;
      try {
        const note = decodeNotification(ev.bytes);
        f.notification = note;
        f.op = note.op;
      } catch (e) {
        if (!(e instanceof CodecError)) throw e;
        ev.fail(e);
      }
      return;
    }
    ev.kind = "fuse_reply";
    const pending = p.take(unique);
    if (pending === undefined) {
      const f = new FuseFields(ev, 0, "UNKNOWN", len, unique, undefined);
      f.error = second;
      ev.fuse = f;
      ev.state = REPLY_BODY;
      return;
    }
    const f = new FuseFields(
      ev,
      pending.opcode,
      opcodeName(pending.opcode),
      len,
      unique,
      pending.nodeid,
    );
    f.error = second;
    f.request_frame = pending.frame;
    f.latency = (ev.timeHigh - pending.timeHigh) * TWO_32 + (ev.timeLow - pending.timeLow);
    f.askSize = pending.askSize;
    ev.fuse = f;
    ev.state = REPLY_BODY;
    if (p.interrupts.size > 0) {
      const intr = p.interrupts.get(pending.unique);
      if (intr !== undefined) {
        f.interrupted = true;
        p.interrupts.delete(pending.unique);
        p.pending.delete(intr); // the INTERRUPT needs no answer any more
      }
    }
    if (pending.opcode === Opcode.INIT) {
      ev.settle();
      const reply = f.decodedReply;
      if (reply !== undefined && p.initRequest !== undefined && !this.#forcedMinor) {
        p.learnInit(p.initRequest, reply);
      }
    }
  }

  /** A vhost-user message; `backToFront` is its direction (replies travel against their request's). */
  #vhostUser(ev: EventRecord, backToFront: boolean): void {
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
      ev.fail(e);
    }
  }
}
