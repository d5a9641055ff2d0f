/**
 * Recording sessions as pcapng: a {@linkcode Recorder} writes ringside
 * records (FUSE requests, replies and notifications with the negotiated
 * minor, vhost-user messages with their fd counts, ring kicks, calls and
 * chains) through `PcapngWriter`, one interface per channel, and a
 * {@linkcode RecordingServer} wraps any {@linkcode FuseServer} so that every
 * request is recorded when it arrives and every reply when it is sent (the
 * latency in the capture is the server's).
 *
 * Both run in the thread that owns the engine (a transport's Worker): the
 * server is built from serialisable options by {@linkcode createRecordingServer},
 * which a transport reaches through a server spec
 * ({@linkcode recordingServerSpec}). Data is held in memory for at most
 * `flushMs` (default 200 ms) or `flushBytes` (default 256 KiB), whichever
 * comes first, and always written as whole blocks, so a process killed with
 * SIGKILL leaves a file that reads up to its last complete block. The time
 * bound is checked on every record and by a timer; a thread that blocks in
 * a system call between bursts keeps the last burst until its next record or
 * {@linkcode Recorder.close}.
 *
 * @example
 * ```ts
 * import { Recorder, RecordingServer } from "./recorder.ts";
 * import { createPassthrough } from "./session.ts";
 * const recorder = Recorder.open("/tmp/session.pcapng");
 * const server = new RecordingServer(createPassthrough("/tmp/share"), recorder, { channel: "test" });
 * // transport: const reply = await server.handle(requestBytes);
 * await server.close();
 * ```
 *
 * @module
 */
import {
  type ChainSummary,
  encodeRecordPrefix,
  type Malformation,
  MALFORMATION_CODES,
  NO_QUEUE,
  PcapngWriter,
  RECORD_FLAG_CHAIN,
  RECORD_KIND_CODES,
  RECORD_PREFIX_LENGTH,
  recordDirection,
  type RecordKind,
} from "../codecs/pcapng/mod.ts";
import type { FuseServer } from "./types.ts";
import type { openLibc as openLibcFn } from "../sys/libc.ts";
import { DIRECT_IO_STOP, RING } from "./_recorder_ring.ts";
import { AioFile, type AioFileStats } from "./_aio_file.ts";

/** Options of a {@linkcode Recorder}: all structured-cloneable. */
export interface RecorderOptions {
  /** Longest time data stays in memory before it is written, in ms (default 200). */
  flushMs?: number;
  /** Most bytes held before they are written (default 256 KiB). */
  flushBytes?: number;
  /** shb_userappl (default `ringside`). */
  userappl?: string;
  /** A comment on the section (the snapshot reference goes here too). */
  comment?: string;
  /** The `--snapshot` sidecar this capture starts from: written to the section comment. */
  snapshot?: SnapshotReference;
  /** Append a new section to an existing file instead of truncating it ({@linkcode Recorder.open}). */
  append?: boolean;
  /**
   * {@linkcode Recorder.open}: write the file from a writer Worker fed through
   * a SharedArrayBuffer ring (default true), so the recording thread never
   * blocks in write(2); false writes synchronously from the recording thread.
   */
  writerThread?: boolean;
  /**
   * Write the file with O_DIRECT where its file system allows it, so a fast
   * capture fills no page cache (default false). With the writer thread, it
   * writes that way; without it (`writerThread: false`), the recording thread
   * submits each flush through Linux native AIO and never waits for the disk
   * (engine/_aio_file.ts). Where O_DIRECT or AIO is refused, and on tmpfs,
   * the file is written as without this option.
   */
  directIo?: boolean;
}

/** How a capture names the snapshot of the directory it starts from. */
export interface SnapshotReference {
  /** Path of the snapshot directory, relative to the capture file's directory when possible. */
  path: string;
  /** SHA-256 (hex) of the snapshot's manifest.json. */
  manifestSha256: string;
}

/** Where and how one record travelled. */
export interface RecordMeta {
  /** Virtqueue index (absent when the channel is not a virtqueue). */
  queue?: number;
  /** The descriptor chain the message travelled in. */
  chain?: ChainSummary;
  /** RECORD_FLAG_* bits (malformed, indirect, packed). */
  flags?: number;
  /** What was wrong with a malformed chain (with RECORD_FLAG_MALFORMED). */
  malformation?: Malformation;
  /**
   * Time in ns since the epoch (default: now). A time earlier than the
   * previous record's is written as that record's, so frames stay in time
   * order (a message stamped on another thread can arrive late).
   */
  timeNs?: bigint;
  /**
   * Stamp the record with the previous record's time (a ring event that
   * follows a reply at once): saves a clock read. Ignored with `timeNs`.
   */
  atPrevious?: boolean;
}

/** A kick to record. */
export interface KickRecordMeta extends RecordMeta {
  /** The kick eventfd's counter as read (kicks coalesced since the last read). */
  count?: bigint;
}

/** A descriptor chain to record. */
export interface ChainRecordMeta extends RecordMeta {
  /** The used length the device returned the chain with. */
  usedLength?: number;
}

/** A vhost-user message to record. */
export interface VhostUserRecordMeta extends RecordMeta {
  /** `front_to_back` (QEMU to the backend, inbound) or `back_to_front`. */
  direction: "front_to_back" | "back_to_front";
  /** File descriptors that came (or went) with the message. */
  fdCount?: number;
}

/** The section comment that names a snapshot; {@linkcode parseSnapshotComment} reads it back. */
export function snapshotComment(ref: SnapshotReference): string {
  return `ringside-snapshot: ${ref.path} sha256=${ref.manifestSha256}`;
}

/** The snapshot reference in a section comment, or `undefined` when it names none. */
export function parseSnapshotComment(comment: string | undefined): SnapshotReference | undefined {
  if (comment === undefined) return undefined;
  const m = /(?:^|\n)ringside-snapshot: (.+) sha256=([0-9a-f]{64})(?:$|\n)/.exec(comment);
  return m === null ? undefined : { path: m[1], manifestSha256: m[2] };
}

const timeOriginNs = BigInt(Math.round(performance.timeOrigin * 1000)) * 1000n;

/** Nanoseconds since the epoch, at the resolution `performance.now()` gives. */
export function nowNs(): bigint {
  return timeOriginNs + BigInt(Math.round(performance.now() * 1e6));
}

/**
 * `performance.now()` read through clock_gettime(CLOCK_MONOTONIC) by FFI:
 * the same clock (Deno's is CLOCK_MONOTONIC on Linux) at about a third of
 * the cost (~30 ns instead of the ~90 ns an op call costs, measured on this
 * VM), which matters at five records per request. sys/libc.ts is loaded
 * only where FFI is already granted (no permission prompt, no FFI needed to
 * import this module); until it has loaded, or without it, this is
 * `performance.now()`.
 */
let clockMs: () => number = () => performance.now();

function ffiGranted(): boolean {
  try {
    return Deno.build.os === "linux" &&
      Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

const loaded: Promise<void> = ffiGranted()
  ? import("../sys/libc.ts").then((m) => {
    const clock = monotonicClock(m.openLibc);
    if (clock !== undefined) clockMs = clock;
  }).catch(() => {})
  : Promise.resolve();

/**
 * Resolves once the FFI clock (a third of `performance.now()`'s cost) has
 * loaded where FFI is granted; a recorder opened before that works without
 * it, at the higher cost per record.
 */
export function recorderReady(): Promise<void> {
  return loaded;
}

function monotonicClock(open: typeof openLibcFn): (() => number) | undefined {
  try {
    const libc = open({ clock_gettime: { parameters: ["i32", "buffer"], result: "i32" } });
    const ts = new Uint8Array(16);
    const words = new Int32Array(ts.buffer);
    const CLOCK_MONOTONIC = 1;
    // struct timespec on x86-64/aarch64: i64 tv_sec, i64 tv_nsec (read as u32 words)
    const monoNs = () => {
      libc.clock_gettime(CLOCK_MONOTONIC, ts);
      return words[0] * 1e9 + words[2] + words[1] * 4294967296e9;
    };
    // pair the two clocks once: the read with the smallest gap
    let offsetMs = 0;
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const a = monoNs();
      const p = performance.now();
      const b = monoNs();
      if (b - a < best) {
        best = b - a;
        offsetMs = p - (a + b) / 2e6;
      }
    }
    return () => {
      libc.clock_gettime(CLOCK_MONOTONIC, ts);
      return offsetMs + (words[0] * 1e9 + words[2] + words[1] * 4294967296e9) / 1e6;
    };
  } catch {
    return undefined;
  }
}

const FUSE_INIT = 26;
const TWO32 = 0x1_0000_0000;
// the epoch offset of performance.now(), split into u32 halves so the hot path needs no BigInt
const originHi = Number(timeOriginNs >> 32n);
const originLo = Number(timeOriginNs & 0xffffffffn);
const BLOCK_ENHANCED_PACKET = 6;
const KIND_REQUEST = RECORD_KIND_CODES.fuse_request;
const KIND_REPLY = RECORD_KIND_CODES.fuse_reply;
const KIND_NOTIFY = RECORD_KIND_CODES.fuse_notify;
const KIND_KICK = RECORD_KIND_CODES.ring_kick;
const KIND_CALL = RECORD_KIND_CODES.ring_call;
const KIND_CHAIN = RECORD_KIND_CODES.ring_chain;
/** epb_flags direction (1 inbound, 2 outbound) by record kind code. */
const EPB_DIRECTION: number[] = [];
/** True for the FUSE kinds (their header carries the negotiated minor), by kind code. */
const KIND_IS_FUSE: boolean[] = [];
for (const [kind, code] of Object.entries(RECORD_KIND_CODES) as [RecordKind, number][]) {
  EPB_DIRECTION[code] = recordDirection(kind) === "inbound" ? 1 : 2;
  KIND_IS_FUSE[code] = kind.startsWith("fuse_");
}
/**
 * The record prefix (Exported-PDU tags, then a zeroed record header) as
 * little-endian u32 words: written word by word, which costs less than a
 * `set()` call per record.
 */
const PREFIX_WORDS: number[] = (() => {
  const prefix = encodeRecordPrefix({ kind: "fuse_request" });
  const v = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const words: number[] = [];
  // the kind byte is written per record: zero it in the template
  const kindAt = RECORD_PREFIX_LENGTH - 24 + 2;
  prefix[kindAt] = 0;
  for (let i = 0; i < RECORD_PREFIX_LENGTH; i += 4) words.push(v.getUint32(i, true));
  return words;
})();
/** Payloads up to this size are copied byte by byte (a `set()` call costs more). */
const SMALL_COPY = 64;
const OPT_EPB_FLAGS = 2;
const DEFAULT_FLUSH_BYTES = 256 * 1024;

/**
 * Writes a pcapng capture of one session. Channels are added on first use
 * ({@linkcode Recorder.channel}); every record call copies the message into
 * the write buffer at once, so callers may reuse their buffers.
 */
export class Recorder {
  /** Section and interface blocks only; packets are encoded below into `#buf`. */
  #writer: PcapngWriter;
  #sink: (chunk: Uint8Array) => void;
  /** True when the sink consumes a chunk before returning (a file): `#buf` is then reused. */
  #sinkBorrows = false;
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  #written = 0;
  #flushBytes: number;
  #channels = new Map<string, number>();
  #flushMs: number;
  #lastFlush = clockMs();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closeSink: (() => void) | undefined;
  #closed = false;
  #records = 0;
  #minor = 0;
  /** The unique of the recorded INIT request as u32 halves (-1: none pending). */
  #initLo = -1;
  #initHi = -1;
  #initMinor = 0;
  #scratch8 = new Uint8Array(8);
  #scratch8View = new DataView(this.#scratch8.buffer);
  #scratch4 = new Uint8Array(4);
  #scratch4View = new DataView(this.#scratch4.buffer);
  /** Interfaces added (mirrors the writer's count without a getter call per record). */
  #interfaces = 0;
  #lastHi = 0;
  #lastLo = 0;
  /** clockMs() at the last record (for `atPrevious`). */
  #lastClock = 0;
  /** The writer thread's ring, when the file is written off this thread. */
  #ring: WriterRing | undefined;
  /** Set while `#buf` is a one-off buffer for a block larger than a ring chunk. */
  #outsize = false;
  /** The O_DIRECT file written through AIO from this thread (`directIo` without a writer thread). */
  #aio: AioFile | undefined;

  /**
   * Builds a recorder that hands whole blocks to `sink`, which owns each
   * chunk it is given. {@linkcode Recorder.open} writes to a file.
   */
  constructor(sink: (chunk: Uint8Array) => void, options: RecorderOptions = {}) {
    this.#sink = sink;
    this.#flushMs = options.flushMs ?? 200;
    this.#flushBytes = Math.max(4096, options.flushBytes ?? DEFAULT_FLUSH_BYTES);
    this.#buf = new Uint8Array(this.#flushBytes + 64 * 1024);
    this.#view = new DataView(this.#buf.buffer);
    const comments: string[] = [];
    if (options.comment !== undefined) comments.push(options.comment);
    if (options.snapshot !== undefined) comments.push(snapshotComment(options.snapshot));
    // the writer's blocks (whole, one chunk each) are appended to our buffer
    this.#writer = new PcapngWriter((block) => this.#append(block), {
      userappl: options.userappl ?? "ringside",
      os: Deno.build.os,
      comment: comments.length > 0 ? comments.join("\n") : undefined,
    });
    if (this.#flushMs > 0 && Number.isFinite(this.#flushMs)) {
      const timer = setInterval(() => this.#tick(), this.#flushMs);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  /**
   * Opens (truncates, or with `append` extends by a new section) `path` and
   * records to it with synchronous whole-block writes.
   */
  static open(path: string | URL, options: RecorderOptions = {}): Recorder {
    if (options.directIo && options.writerThread === false) {
      const aio = AioFile.open(path instanceof URL ? path.pathname : path, {
        append: options.append,
      });
      if (aio !== null) return Recorder.#openAio(aio, options);
    }
    // appending (both threads may write: the writer, and this one for an outsize block)
    if (!options.append) Deno.openSync(path, { write: true, create: true, truncate: true }).close();
    const file = Deno.openSync(path, { write: true, create: true, append: true });
    const sink = (chunk: Uint8Array) => {
      let p = 0;
      while (p < chunk.length) p += file.writeSync(chunk.subarray(p));
    };
    if (!(options.writerThread ?? true)) {
      const r = new Recorder(sink, options);
      r.#sinkBorrows = true;
      r.flush(); // the section header is on disk at once
      r.#closeSink = () => file.close();
      return r;
    }
    // the file is opened for appending by both threads; the writer owns it
    // except for blocks larger than a chunk, written here once it has caught up
    const flushMs = options.flushMs ?? 200;
    const ring = new WriterRing(path instanceof URL ? path.pathname : path, {
      intervalMs: Math.max(5, Math.min(flushMs, 1000) / 2),
      direct: sink,
      directIo: options.directIo ?? false,
    });
    const r = new Recorder(sink, { ...options, flushMs: Infinity });
    r.#ring = ring;
    r.#sinkBorrows = true;
    r.#moveHeaderInto(ring.chunk());
    r.#closeSink = () => {
      ring.close();
      file.close();
    };
    return r;
  }

  static #openAio(aio: AioFile, options: RecorderOptions): Recorder {
    const r = new Recorder(() => {
      throw new Error("Recorder: the AIO file takes chunks through submit()");
    }, options);
    r.#aio = aio;
    r.#moveHeaderInto(aio.chunk());
    return r;
  }

  /**
   * Moves what the constructor buffered (the section header) into `chunk`,
   * the first of the writer ring's or the AIO file's, and flushes it: the
   * section header is on its way to disk at once.
   */
  #moveHeaderInto(chunk: Uint8Array): void {
    const head = this.#buf.slice(0, this.#pos);
    this.#setBuffer(chunk);
    this.#pos = 0;
    this.#append(head);
    this.flush();
  }

  /** Hands the bytes held to the AIO file; continues in a chunk with room for `need` bytes. */
  #submitAio(need = 0): void {
    this.#written += this.#pos;
    this.#setBuffer(this.#aio!.submit(this.#pos, need));
    this.#pos = 0;
  }

  /** True while the file is written with O_DIRECT (see {@linkcode RecorderOptions.directIo}). */
  get directIo(): boolean {
    return this.#aio !== undefined || (this.#ring?.directIo ?? false);
  }

  /** Counters of the O_DIRECT AIO file (writes, waits for the device, padding), when it is used. */
  get aioStats(): Readonly<AioFileStats> | undefined {
    return this.#aio?.stats;
  }

  /** Records written so far. */
  get records(): number {
    return this.#records;
  }

  /** Bytes handed to the file so far. */
  get bytesWritten(): number {
    return this.#written;
  }

  /** Bytes written into blocks but not yet to the file. */
  get bufferedBytes(): number {
    return this.#pos;
  }

  /** The FUSE minor the recorded INIT exchange settled (0 before it). */
  get minor(): number {
    return this.#minor;
  }

  /** The interface id of channel `name`, adding its Interface Description Block on first use. */
  channel(name: string, options: { description?: string } = {}): number {
    let id = this.#channels.get(name);
    if (id === undefined) {
      id = this.#writer.addInterface({ name, description: options.description });
      this.#channels.set(name, id);
      this.#interfaces = this.#writer.interfaceCount;
    }
    return id;
  }

  /** Records a FUSE request (kernel or guest to the backend) on `channel`. */
  fuseRequest(channel: number, bytes: Uint8Array, meta: RecordMeta = {}): void {
    if (bytes.length >= 16 && bytes[4] === FUSE_INIT && bytes[5] === 0 && bytes.length >= 48) {
      // fuse_init_in.minor at 44: remembered to settle the minor from the reply
      this.#initLo = u32(bytes, 8);
      this.#initHi = u32(bytes, 12);
      this.#initMinor = u32(bytes, 44);
    }
    this.#put(channel, KIND_REQUEST, bytes, meta, 0);
  }

  /**
   * Records a FUSE request whose bytes lie in pieces: `head` (the headers),
   * then each of `data` in turn (a WRITE's payload in guest buffers), copied
   * straight into the block.
   */
  fuseRequestParts(
    channel: number,
    head: Uint8Array,
    data: readonly Uint8Array[],
    meta: RecordMeta = {},
  ): void {
    this.#put(channel, KIND_REQUEST, head, meta, 0, data);
  }

  /**
   * Records a FUSE reply whose bytes lie in pieces: `head` (fuse_out_header),
   * then each of `data` (a READ's payload in guest buffers).
   */
  fuseReplyParts(
    channel: number,
    head: Uint8Array,
    data: readonly Uint8Array[],
    meta: RecordMeta = {},
  ): void {
    this.#put(channel, this.#replyKind(head), head, meta, 0, data);
  }

  /** Records a FUSE reply, or a notification when its unique is 0, on `channel`. */
  fuseReply(channel: number, bytes: Uint8Array, meta: RecordMeta = {}): void {
    this.#put(channel, this.#replyKind(bytes), bytes, meta, 0);
  }

  /** A reply's record kind (a notification when its unique is 0), settling the minor from INIT's reply. */
  #replyKind(bytes: Uint8Array): number {
    let kind = KIND_REPLY;
    if (bytes.length >= 16) {
      // the unique as u32 halves: no BigInt per reply
      const lo = u32(bytes, 8);
      const hi = u32(bytes, 12);
      if (lo === 0 && hi === 0) kind = KIND_NOTIFY;
      else if (
        lo === this.#initLo && hi === this.#initHi && bytes.length >= 24 && u32(bytes, 4) === 0
      ) {
        // fuse_init_out.minor at 20
        this.#minor = Math.min(this.#initMinor, u32(bytes, 20));
        this.#initLo = this.#initHi = -1;
      }
    }
    return kind;
  }

  /** Records a vhost-user message with its fd count. */
  vhostUser(channel: number, bytes: Uint8Array, meta: VhostUserRecordMeta): void {
    const kind = meta.direction === "front_to_back"
      ? RECORD_KIND_CODES.vhost_user_front_to_back
      : RECORD_KIND_CODES.vhost_user_back_to_front;
    this.#put(channel, kind, bytes, meta, meta.fdCount ?? 0);
  }

  /** Records a kick (the driver notified the device) of `meta.queue`, with the eventfd counter. */
  ringKick(channel: number, meta: KickRecordMeta): void {
    let payload = EMPTY;
    if (meta.count !== undefined) {
      payload = this.#scratch8;
      this.#scratch8View.setBigUint64(0, BigInt.asUintN(64, meta.count), true);
    }
    this.#put(channel, KIND_KICK, payload, meta, 0);
  }

  /** Records a call (the device interrupted the driver) of `meta.queue`. */
  ringCall(channel: number, meta: RecordMeta): void {
    this.#put(channel, KIND_CALL, EMPTY, meta, 0);
  }

  /**
   * Records a descriptor chain of `meta.queue` (`meta.chain` gives its
   * layout) as the device returns it, with the used length.
   */
  ringChain(channel: number, meta: ChainRecordMeta): void {
    let payload = EMPTY;
    if (meta.usedLength !== undefined) {
      payload = this.#scratch4;
      this.#scratch4View.setUint32(0, meta.usedLength, true);
    }
    this.#put(channel, KIND_CHAIN, payload, meta, 0);
  }

  /**
   * Writes everything held in memory (with a writer thread: hands it to the
   * thread and wakes it).
   */
  flush(): void {
    this.#lastFlush = clockMs();
    if (this.#aio !== undefined) {
      if (this.#pos > 0) this.#submitAio();
      return;
    }
    if (this.#ring !== undefined) {
      this.#ring.publish(this.#pos);
      this.#ring.wake();
      return;
    }
    if (this.#pos === 0) return;
    const n = this.#pos;
    this.#pos = 0;
    this.#written += n;
    this.#sink(this.#sinkBorrows ? this.#buf.subarray(0, n) : this.#buf.slice(0, n));
  }

  /** Flushes, stops the timer and closes the file (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#aio !== undefined) {
      const n = this.#pos;
      this.#pos = 0;
      this.#written += n;
      this.#aio.close(n);
      return;
    }
    this.flush();
    this.#closeSink?.();
  }

  #tick(): void {
    if (!this.#closed && this.#pos > 0) this.flush();
  }

  /** Appends a whole block from the section/interface writer. */
  #append(block: Uint8Array): void {
    this.#reserve(block.length);
    this.#buf.set(block, this.#pos);
    this.#pos += block.length;
    this.#blockDone();
  }

  #setBuffer(b: Uint8Array): void {
    this.#buf = b;
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** Makes room for `n` bytes at `#pos`, flushing (and growing for an outsize block). */
  #reserve(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    if (this.#aio !== undefined) {
      this.#submitAio(n);
      return;
    }
    const ring = this.#ring;
    if (ring !== undefined) {
      this.#written += this.#pos;
      this.#setBuffer(ring.seal(this.#pos));
      this.#pos = 0;
      if (n > this.#buf.length) {
        // larger than a chunk: written from here once the writer has caught up
        ring.drain();
        this.#outsize = true;
        this.#setBuffer(new Uint8Array(n));
      }
      return;
    }
    this.flush();
    if (n > this.#buf.length) this.#setBuffer(new Uint8Array(n + 64 * 1024));
  }

  /** A whole block is in `#buf`: with a writer thread, publish it. */
  #blockDone(): void {
    const ring = this.#ring;
    if (ring === undefined) return;
    if (this.#outsize) {
      ring.direct(this.#buf.subarray(0, this.#pos));
      this.#written += this.#pos;
      this.#outsize = false;
      this.#setBuffer(ring.chunk());
      this.#pos = 0;
      return;
    }
    ring.publish(this.#pos);
  }

  /**
   * One Enhanced Packet Block (pcapng section 4.3) straight into the reused
   * buffer, the record header written in place: the writer's own path and
   * `encodeRecordPrefix` allocate per record, which costs more than the copy
   * itself at FUSE message rates.
   */
  #put(
    channel: number,
    kind: number,
    payload: Uint8Array,
    meta: RecordMeta,
    fdCount: number,
    parts?: readonly Uint8Array[],
  ) {
    if (this.#closed) throw new Error("Recorder: record after close()");
    if (!(channel >= 0 && channel < this.#interfaces)) {
      throw new RangeError(`interface ${channel} was not added (there are ${this.#interfaces})`);
    }
    const atPrevious = meta.atPrevious === true && meta.timeNs === undefined;
    const now = atPrevious ? this.#lastClock : clockMs();
    this.#lastClock = now;
    let hi: number;
    let lo: number;
    if (atPrevious) {
      hi = this.#lastHi;
      lo = this.#lastLo;
    } else if (meta.timeNs === undefined) {
      // the epoch offset in u32 halves plus performance.now() in ns: no BigInt
      lo = originLo + Math.round(now * 1e6);
      hi = originHi + Math.floor(lo / TWO32);
      lo %= TWO32;
    } else {
      const t = BigInt.asUintN(64, meta.timeNs);
      hi = Number(t >> 32n);
      lo = Number(t & 0xffffffffn);
    }
    if (hi < this.#lastHi || (hi === this.#lastHi && lo < this.#lastLo)) {
      hi = this.#lastHi;
      lo = this.#lastLo;
    }
    this.#lastHi = hi;
    this.#lastLo = lo;
    let n = payload.length;
    if (parts !== undefined) { for (let i = 0; i < parts.length; i++) n += parts[i].length; }
    const len = RECORD_PREFIX_LENGTH + n;
    const padded = (len + 3) & ~3;
    const total = 28 + padded + 12 + 4;
    this.#reserve(total);
    const p = this.#pos;
    const v = this.#view;
    const b = this.#buf;
    v.setUint32(p, BLOCK_ENHANCED_PACKET, true);
    v.setUint32(p + 4, total, true);
    v.setUint32(p + 8, channel, true);
    v.setUint32(p + 12, hi, true);
    v.setUint32(p + 16, lo, true);
    v.setUint32(p + 20, len, true);
    v.setUint32(p + 24, len, true);
    // the Exported-PDU tags and a zeroed record header from the template
    for (let i = 0, q = p + 28; i < PREFIX_WORDS.length; i++, q += 4) {
      v.setUint32(q, PREFIX_WORDS[i], true);
    }
    // the record header (codecs/pcapng/record.ts), after the Exported-PDU tags
    const h = p + 28 + RECORD_PREFIX_LENGTH - 24;
    b[h + 2] = kind;
    if (fdCount > 0) b[h + 3] = Math.min(fdCount, 0xff);
    let flags = (meta.flags ?? 0) & 0xffff & ~RECORD_FLAG_CHAIN;
    v.setUint16(h + 6, meta.queue ?? NO_QUEUE, true);
    const c = meta.chain;
    if (c !== undefined) {
      flags |= RECORD_FLAG_CHAIN;
      v.setUint16(h + 8, c.head, true);
      v.setUint16(h + 10, c.descriptors, true);
      v.setUint32(h + 12, c.readableBytes, true);
      v.setUint32(h + 16, c.writableBytes, true);
    }
    v.setUint16(h + 4, flags, true);
    if (this.#minor > 0 && KIND_IS_FUSE[kind]) v.setUint16(h + 20, this.#minor, true);
    if (meta.malformation !== undefined) b[h + 22] = MALFORMATION_CODES[meta.malformation] ?? 0;
    // the payload: one copy, straight into the block
    const d = p + 28 + RECORD_PREFIX_LENGTH;
    const m = payload.length;
    if (m <= SMALL_COPY) {
      for (let i = 0; i < m; i++) b[d + i] = payload[i];
    } else {
      b.set(payload, d);
    }
    if (parts !== undefined) {
      for (let i = 0, q = d + m; i < parts.length; q += parts[i].length, i++) b.set(parts[i], q);
    }
    for (let q = p + 28 + len; q < p + 28 + padded; q++) b[q] = 0;
    const o = p + 28 + padded;
    v.setUint32(o, OPT_EPB_FLAGS | (4 << 16), true);
    v.setUint32(o + 4, EPB_DIRECTION[kind], true);
    v.setUint32(o + 8, 0, true); // opt_endofopt
    v.setUint32(o + 12, total, true);
    this.#pos = p + total;
    this.#records++;
    if (this.#ring !== undefined) this.#blockDone();
    else if (this.#pos >= this.#flushBytes || now - this.#lastFlush >= this.#flushMs) this.flush();
  }
}

const RING_CHUNKS = 8;
const RING_CHUNK_BYTES = 2 << 20;

/**
 * The producer side of the writer thread (engine/_recorder_writer.ts, whose
 * `RING` layout, engine/_recorder_ring.ts): chunks of a SharedArrayBuffer filled
 * here, published block by block, written there.
 */
class WriterRing {
  #ctrl = new Int32Array(new SharedArrayBuffer(4 * (RING.LENGTHS + RING_CHUNKS)));
  #data = new Uint8Array(new SharedArrayBuffer(RING_CHUNKS * RING_CHUNK_BYTES));
  #worker: Worker;
  #sealed = 0;
  #direct: (bytes: Uint8Array) => void;
  #path: string;

  constructor(
    path: string,
    options: { intervalMs: number; direct: (b: Uint8Array) => void; directIo: boolean },
  ) {
    this.#path = path;
    this.#direct = options.direct;
    this.#worker = new Worker(new URL("./_recorder_writer.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.postMessage({
      path,
      data: this.#data.buffer,
      ctrl: this.#ctrl.buffer,
      chunks: RING_CHUNKS,
      chunkBytes: RING_CHUNK_BYTES,
      intervalMs: options.intervalMs,
      directIo: options.directIo,
    });
  }

  /** True while the writer writes with O_DIRECT. */
  get directIo(): boolean {
    return Atomics.load(this.#ctrl, RING.DIRECT_IO) === 1;
  }

  /** The chunk being filled. */
  chunk(): Uint8Array {
    const c = this.#sealed % RING_CHUNKS;
    return this.#data.subarray(c * RING_CHUNK_BYTES, (c + 1) * RING_CHUNK_BYTES);
  }

  /** The current chunk holds `len` bytes of whole blocks. */
  publish(len: number): void {
    Atomics.store(this.#ctrl, RING.LENGTHS + (this.#sealed % RING_CHUNKS), len);
  }

  wake(): void {
    Atomics.add(this.#ctrl, RING.WAKE, 1);
    Atomics.notify(this.#ctrl, RING.WAKE);
  }

  /**
   * Seals the current chunk at `len` bytes; returns the next one (waiting for
   * the writer when all are full). The writer is woken only once half the
   * ring waits for it: until then its own look (every `intervalMs`) writes
   * the sealed chunks, in one wake-up rather than one per chunk.
   */
  seal(len: number): Uint8Array {
    this.publish(len);
    this.#sealed++;
    Atomics.store(this.#ctrl, RING.SEALED, this.#sealed);
    if (this.#sealed - Atomics.load(this.#ctrl, RING.WRITTEN) >= RING_CHUNKS / 2) this.wake();
    this.#waitWritten(this.#sealed - RING_CHUNKS + 1);
    return this.chunk();
  }

  /** Waits until the writer has written every sealed chunk (the current one is empty). */
  drain(): void {
    this.#waitWritten(this.#sealed);
  }

  /** Writes `bytes` from this thread (the writer is idle: call {@linkcode drain} first). */
  direct(bytes: Uint8Array): void {
    if (Atomics.load(this.#ctrl, RING.DIRECT_IO) !== 0) {
      // the writer stages a partial page: it hands over a file of exact length first
      Atomics.store(this.#ctrl, RING.DIRECT_IO, DIRECT_IO_STOP);
      this.wake();
      while (Atomics.load(this.#ctrl, RING.DIRECT_IO) !== 0) {
        if (Atomics.load(this.#ctrl, RING.DONE) !== 0) {
          throw new Error(`Recorder: the writer of ${this.#path} stopped`);
        }
        Atomics.wait(this.#ctrl, RING.DIRECT_IO, DIRECT_IO_STOP, 1000);
      }
    }
    this.#direct(bytes);
  }

  #waitWritten(n: number): void {
    for (;;) {
      const w = Atomics.load(this.#ctrl, RING.WRITTEN);
      if (w >= n) return;
      this.wake();
      if (Atomics.load(this.#ctrl, RING.DONE) !== 0) {
        throw new Error(`Recorder: the writer of ${this.#path} stopped`);
      }
      Atomics.wait(this.#ctrl, RING.WRITTEN, w, 1000);
    }
  }

  /** Lets the writer write everything, then stops it. */
  close(): void {
    Atomics.store(this.#ctrl, RING.CLOSED, 1);
    this.wake();
    const deadline = performance.now() + 30_000;
    while (Atomics.load(this.#ctrl, RING.DONE) === 0 && performance.now() < deadline) {
      Atomics.wait(this.#ctrl, RING.DONE, 0, 1000);
    }
    this.#worker.terminate();
    if (Atomics.load(this.#ctrl, RING.DONE) === 0) {
      throw new Error(`Recorder: the writer of ${this.#path} did not finish within 30 s`);
    }
  }
}

const EMPTY = new Uint8Array(0);

function u32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/** Options of a {@linkcode RecordingServer}. */
export interface RecordingServerOptions {
  /** Name of the channel its requests come on (`/dev/fuse`, `unix:/run/fs.sock`). */
  channel: string;
  /** The channel's description in the capture. */
  description?: string;
  /** Close the recorder when the server closes (default true). */
  closeRecorder?: boolean;
}

/** Where a request came from, for {@linkcode RecordingServer.handleOn}. */
export interface ChannelMeta extends RecordMeta {
  /** The channel (interface id from {@linkcode Recorder.channel}). */
  channel: number;
}

interface Closable {
  close?: () => void | Promise<void>;
}

/**
 * A {@linkcode FuseServer} that records each request when it arrives and its
 * reply when the inner server produces it.
 */
export class RecordingServer implements FuseServer {
  /** The recorder (a vhost-user queue worker adds ring events through it). */
  readonly recorder: Recorder;
  /** The wrapped server. */
  readonly inner: FuseServer;
  #channel: number;
  #closeRecorder: boolean;
  /** The meta of requests on the server's own channel (shared: never written). */
  #ownMeta: ChannelMeta;

  /** Wraps `inner`, recording to `recorder` on channel `options.channel`. */
  constructor(inner: FuseServer, recorder: Recorder, options: RecordingServerOptions) {
    this.inner = inner;
    this.recorder = recorder;
    this.#channel = recorder.channel(options.channel, { description: options.description });
    this.#closeRecorder = options.closeRecorder ?? true;
    this.#ownMeta = Object.freeze({ channel: this.#channel });
  }

  /** Answers `request` (see {@linkcode FuseServer.handle}) and records both. */
  handle(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    return this.handleOn(request, this.#ownMeta);
  }

  /**
   * Like {@linkcode RecordingServer.handle} for a request that came on
   * another channel (a virtqueue), with its queue and chain layout.
   */
  handleOn(
    request: Uint8Array,
    meta: ChannelMeta,
  ): Uint8Array | null | Promise<Uint8Array | null> {
    const rec = this.recorder;
    rec.fuseRequest(meta.channel, request, meta);
    // the reply travels where the request did; it takes its own time (a new meta only then)
    const replyMeta: RecordMeta = meta.timeNs === undefined
      ? meta
      : { queue: meta.queue, chain: meta.chain, flags: meta.flags };
    const reply = this.inner.handle(request);
    if (reply instanceof Promise) {
      return reply.then((r) => {
        if (r !== null) rec.fuseReply(meta.channel, r, replyMeta);
        return r;
      });
    }
    if (reply !== null) rec.fuseReply(meta.channel, reply, replyMeta);
    return reply;
  }

  /** Closes the inner server, then flushes and closes the recorder. */
  async close(): Promise<void> {
    try {
      const c = this.inner as FuseServer & Closable;
      if (typeof c.close === "function") await c.close();
    } finally {
      if (this.#closeRecorder) this.recorder.close();
    }
  }
}

/** A serialisable description of a server (same shape as transports' `ServerSpec`). */
export interface InnerServerSpec {
  /** Absolute URL of the module exporting the factory. */
  module: string;
  /** Name of the exported factory. */
  factory: string;
  /** Structured-cloneable arguments. */
  args: unknown[];
}

/** Serialisable options of {@linkcode createRecordingServer}. */
export interface RecordingOptions extends RecorderOptions {
  /** The capture file. */
  path: string;
  /** Channel name of the transport (`/dev/fuse`, `unix:PATH`). */
  channel: string;
  /** The channel's description. */
  description?: string;
}

/** Recorders open in this thread, by path: sessions of one transport share a file. */
const openRecorders = new Map<string, { recorder: Recorder; users: number }>();
/** Paths this thread has recorded to: a later session appends a section instead of truncating. */
const usedPaths = new Set<string>();

/**
 * Builds the server `inner` describes and wraps it in a
 * {@linkcode RecordingServer} writing to `options.path`: the factory a
 * transport's Worker calls through {@linkcode recordingServerSpec}. Several
 * sessions in one thread (a Unix socket's connections) share the file; it
 * closes when the last one does, and a later session (the next guest)
 * appends a new pcapng section to it.
 */
export async function createRecordingServer(
  inner: InnerServerSpec,
  options: RecordingOptions,
): Promise<RecordingServer> {
  const mod = await import(inner.module) as Record<string, unknown>;
  const factory = mod[inner.factory];
  if (typeof factory !== "function") {
    throw new Error(`server factory ${inner.factory} is not exported by ${inner.module}`);
  }
  const server = await factory(...inner.args) as FuseServer;
  let entry = openRecorders.get(options.path);
  if (entry === undefined) {
    const { path: _p, channel: _c, description: _d, ...recorderOptions } = options;
    const append = usedPaths.has(options.path);
    usedPaths.add(options.path);
    entry = { recorder: Recorder.open(options.path, { ...recorderOptions, append }), users: 0 };
    openRecorders.set(options.path, entry);
  }
  entry.users++;
  const shared = entry;
  const sessions = shared.users;
  const rs = new RecordingServer(server, shared.recorder, {
    channel: sessions === 1 ? options.channel : `${options.channel}#${sessions}`,
    description: options.description,
    closeRecorder: false,
  });
  const close = rs.close.bind(rs);
  rs.close = async () => {
    try {
      await close();
    } finally {
      if (--shared.users === 0) {
        shared.recorder.close();
        openRecorders.delete(options.path);
      }
    }
  };
  return rs;
}

/**
 * The server spec of `inner` recorded to `options.path`: hand it to a
 * transport (`mountDevFuse`, `listenUnix`) in place of `inner`.
 *
 * @example
 * ```ts
 * import { recordingServerSpec } from "./recorder.ts";
 * const inner = { module: new URL("./mod.ts", import.meta.url).href, factory: "createPassthrough", args: ["/srv", {}] };
 * const spec = recordingServerSpec(inner, { path: "/tmp/s.pcapng", channel: "/dev/fuse" });
 * ```
 */
export function recordingServerSpec(
  inner: InnerServerSpec,
  options: RecordingOptions,
): InnerServerSpec {
  return {
    module: new URL("./recorder.ts", import.meta.url).href,
    factory: "createRecordingServer",
    args: [inner, options],
  };
}

/**
 * Opens a {@linkcode Recorder} on `path`: the factory a transport's Worker
 * reaches through {@linkcode recorderSpec} when it records ring events and
 * control messages itself (the vhost-user queue Worker).
 */
export function openRecorder(path: string, options: RecorderOptions = {}): Recorder {
  return Recorder.open(path, options);
}

/** How a transport's Worker opens a recorder: `import(module).openRecorder(path, options)`. */
export interface RecorderSpec {
  /** Absolute URL of this module. */
  module: string;
  /** The capture file. */
  path: string;
  /** Structured-cloneable {@linkcode RecorderOptions}. */
  options: RecorderOptions & Record<string, unknown>;
}

/**
 * The spec of a recorder writing `path`, for a transport that records from
 * its own Worker (`startVhostUserBackend`'s `record` option).
 *
 * @example
 * ```ts
 * import { recorderSpec } from "./recorder.ts";
 * const record = recorderSpec("/tmp/guest.pcapng", { flushMs: 100 });
 * ```
 */
export function recorderSpec(path: string, options: RecorderOptions = {}): RecorderSpec {
  return { module: new URL("./recorder.ts", import.meta.url).href, path, options: { ...options } };
}
