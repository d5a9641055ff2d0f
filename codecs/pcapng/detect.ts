/**
 * Telling capture formats apart from their first bytes, a reader for raw FUSE
 * streams (messages back to back, as read from /dev/fuse or a socket), and
 * {@linkcode CaptureReader}, which detects the format and reads any of the
 * three in the same push/pull style.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import { ChunkQueue } from "./_chunks.ts";
import { type PcapFileHeader, PcapReader } from "./pcap.ts";
import { DEFAULT_MAX_BLOCK_BYTES, type PacketSlot, PcapngReader } from "./reader.ts";
import {
  BLOCK_SECTION_HEADER,
  BYTE_ORDER_MAGIC,
  PCAP_MAGIC_MICROSECONDS,
  PCAP_MAGIC_NANOSECONDS,
  type PcapngBlock,
} from "./types.ts";

/** A capture format ringside reads. */
export type CaptureFormat = "pcapng" | "pcap" | "fuse_stream";

/** What {@linkcode detectCaptureFormat} concluded. */
export interface FormatGuess {
  /** The format, or `unknown`. */
  format: CaptureFormat | "unknown";
  /** How sure: 1 for a magic number, less for the FUSE heuristics, 0 for unknown. */
  confidence: number;
  /** One line saying what was seen. */
  reason: string;
}

/** How many leading bytes {@linkcode detectCaptureFormat} wants to be sure (fewer at end of file is fine). */
export const DETECT_BYTES = 4096;

/** fuse_in_header size (include/uapi/linux/fuse.h). */
const FUSE_IN_HEADER = 40;
/** fuse_out_header size. */
const FUSE_OUT_HEADER = 16;
const FUSE_INIT = 26;
const CUSE_INIT = 4096;
/** Highest FUSE opcode a plausibility check accepts (7.45 defines up to the low 50s). */
const FUSE_MAX_OPCODE = 64;
/** Largest FUSE message a plausibility check accepts (max_pages 256 * 4 KiB plus headers, doubled). */
const FUSE_MAX_MESSAGE = 2 * 1024 * 1024 + 4096;

function le32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

function swap32(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

/** Why `b[p]` is not a plausible fuse_in_header, or `undefined` when it is. */
function implausibleRequest(b: Uint8Array, p: number): string | undefined {
  const len = le32(b, p);
  const opcode = le32(b, p + 4);
  if (len < FUSE_IN_HEADER) return `len ${len} is under the 40-byte fuse_in_header`;
  if (len > FUSE_MAX_MESSAGE) return `len ${len} is over ${FUSE_MAX_MESSAGE}`;
  if ((opcode < 1 || opcode > FUSE_MAX_OPCODE) && opcode !== CUSE_INIT) {
    return `opcode ${opcode} is not a FUSE opcode`;
  }
  const extlen = b[p + 36] | (b[p + 37] << 8);
  if (FUSE_IN_HEADER + extlen * 8 > len) return `total_extlen ${extlen} does not fit in len ${len}`;
  return undefined;
}

/**
 * Guesses the format of a capture from its first bytes (give
 * {@linkcode DETECT_BYTES}, or the whole file when shorter): pcapng and pcap
 * by their magic numbers, a raw FUSE stream by a plausible first
 * fuse_in_header (an INIT with major 7 is near-certain; a second plausible
 * header right after the first raises the confidence).
 *
 * @example
 * ```ts
 * import { detectCaptureFormat } from "./detect.ts";
 * const g = detectCaptureFormat(new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1]));
 * console.log(g.format, g.confidence); // "pcap" 1
 * ```
 */
export function detectCaptureFormat(head: Uint8Array): FormatGuess {
  if (head.length < 4) {
    return { format: "unknown", confidence: 0, reason: `only ${head.length} bytes` };
  }
  const magic = le32(head, 0);
  if (magic === BLOCK_SECTION_HEADER) {
    if (head.length < 12) {
      return {
        format: "pcapng",
        confidence: 0.7,
        reason: "pcapng Section Header Block type, too short to see the byte-order magic",
      };
    }
    const bom = le32(head, 8);
    if (bom === BYTE_ORDER_MAGIC || bom === swap32(BYTE_ORDER_MAGIC)) {
      return {
        format: "pcapng",
        confidence: 1,
        reason: `pcapng Section Header Block, ${
          bom === BYTE_ORDER_MAGIC ? "little" : "big"
        }-endian`,
      };
    }
    return {
      format: "pcapng",
      confidence: 0.5,
      reason: "pcapng Section Header Block type with a bad byte-order magic",
    };
  }
  for (
    const [m, what] of [
      [PCAP_MAGIC_MICROSECONDS, "microsecond"],
      [PCAP_MAGIC_NANOSECONDS, "nanosecond"],
    ] as const
  ) {
    if (magic === m || swap32(magic) === m) {
      return {
        format: "pcap",
        confidence: 1,
        reason: `classic pcap, ${what} timestamps, ${magic === m ? "little" : "big"}-endian`,
      };
    }
  }
  if (head.length < FUSE_IN_HEADER) {
    return {
      format: "unknown",
      confidence: 0,
      reason: `no capture magic, and ${head.length} bytes are too few for a fuse_in_header`,
    };
  }
  const why = implausibleRequest(head, 0);
  if (why !== undefined) {
    return { format: "unknown", confidence: 0, reason: `no capture magic, and ${why}` };
  }
  const len = le32(head, 0);
  const opcode = le32(head, 4);
  if (opcode === FUSE_INIT && len >= FUSE_IN_HEADER + 8 && le32(head, 40) === 7) {
    return {
      format: "fuse_stream",
      confidence: 0.95,
      reason: `raw FUSE stream starting with INIT 7.${le32(head, 44)}`,
    };
  }
  if (len + FUSE_IN_HEADER <= head.length) {
    const second = implausibleRequest(head, len);
    if (second === undefined) {
      return {
        format: "fuse_stream",
        confidence: 0.8,
        reason: `raw FUSE stream: two plausible fuse_in_headers (opcodes ${opcode}, ${
          le32(head, len + 4)
        })`,
      };
    }
    return {
      format: "unknown",
      confidence: 0,
      reason:
        `first bytes look like a FUSE request (opcode ${opcode}) but the next does not: ${second}`,
    };
  }
  return {
    format: "fuse_stream",
    confidence: 0.5,
    reason: `raw FUSE stream: one plausible fuse_in_header (opcode ${opcode}, len ${len})`,
  };
}

/** One message of a raw FUSE stream. */
export interface FuseStreamMessage {
  /** Item kind. */
  kind: "message";
  /** Byte offset of the message in the stream. */
  offset: number;
  /** The whole message (header and body): a view into the pushed input, do not modify. */
  data: Uint8Array;
}

/** Options for {@linkcode FuseStreamReader}. */
export interface FuseStreamReaderOptions {
  /** Largest message accepted, in bytes (default 64 MiB). */
  maxMessageBytes?: number;
}

/**
 * Splits a raw FUSE stream into messages by the `len` field that starts both
 * fuse_in_header and fuse_out_header; same push/pull style as the other
 * readers.
 */
export class FuseStreamReader {
  #q = new ChunkQueue();
  #max: number;
  #ended = false;
  #error: CodecError | undefined;

  /** Builds a reader; nothing is read until {@linkcode FuseStreamReader.push}. */
  constructor(options: FuseStreamReaderOptions = {}) {
    this.#max = options.maxMessageBytes ?? DEFAULT_MAX_BLOCK_BYTES;
  }

  /** Adds input bytes. The reader keeps views into `chunk`: do not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error("FuseStreamReader.push after end()");
    this.#q.push(chunk);
  }

  /** Declares the end of input: a partial message left over becomes a truncation error. */
  end(): void {
    this.#ended = true;
  }

  /** Absolute stream offset of the next unread byte. */
  get offset(): number {
    return this.#q.consumed;
  }

  /** The next whole message, or `undefined`; {@linkcode CodecError} at damage (sticky). */
  next(): FuseStreamMessage | undefined {
    if (this.#error !== undefined) throw this.#error;
    const q = this.#q;
    const off = q.consumed;
    const avail = q.available;
    let error: CodecError | undefined;
    if (avail < 4) {
      if (!this.#ended || avail === 0) return undefined;
      error = new CodecError("fuse_header.len", off, `truncated: ${avail} bytes left`);
    } else {
      const len = q.u32(0, true);
      if (len < FUSE_OUT_HEADER || len > this.#max) {
        error = new CodecError(
          "fuse_header.len",
          off,
          `expected from ${FUSE_OUT_HEADER} to ${this.#max}, found ${len}`,
        );
      } else if (avail < len) {
        if (!this.#ended) return undefined;
        error = new CodecError(
          "fuse_header.len",
          off,
          `truncated: the input ends ${avail} bytes into a ${len}-byte message`,
        );
      } else {
        return { kind: "message", offset: off, data: q.take(len) };
      }
    }
    this.#error = error;
    q.clear();
    throw error;
  }
}

/** Anything a {@linkcode CaptureReader} returns. */
export type CaptureItem = PcapngBlock | PcapFileHeader | FuseStreamMessage;

/** Options for {@linkcode CaptureReader}. */
export interface CaptureReaderOptions {
  /** Skip detection and read this format. */
  format?: CaptureFormat;
  /** Largest block, record or message accepted (default 64 MiB). */
  maxBlockBytes?: number;
}

/**
 * Reads pcapng, classic pcap or a raw FUSE stream, whichever the first bytes
 * say (see {@linkcode detectCaptureFormat}); push/pull like the others.
 *
 * @example
 * ```ts
 * import { CaptureReader } from "./detect.ts";
 * const r = new CaptureReader();
 * r.push(new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0]));
 * r.end();
 * console.log(r.next()?.kind, r.format); // "interface" "pcap"
 * ```
 */
export class CaptureReader {
  #options: CaptureReaderOptions;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #ended = false;
  #inner: PcapngReader | PcapReader | FuseStreamReader | undefined;
  #guess: FormatGuess | undefined;

  /** Builds a reader; the format is decided once enough bytes (or the end) arrive. */
  constructor(options: CaptureReaderOptions = {}) {
    this.#options = options;
    if (options.format !== undefined) {
      this.#start({ format: options.format, confidence: 1, reason: "given by the caller" });
    }
  }

  /** The detected (or given) format, once known. */
  get format(): CaptureFormat | undefined {
    return this.#guess?.format === "unknown" ? undefined : this.#guess?.format;
  }

  /** What detection concluded, once it ran. */
  get guess(): FormatGuess | undefined {
    return this.#guess;
  }

  /** Absolute stream offset of the next unread byte. */
  get offset(): number {
    return this.#inner?.offset ?? 0;
  }

  /** Bytes of zeros a pcapng input ends in (see `PcapngReader.zeroTailBytes`); 0 for the other formats. */
  get zeroTailBytes(): number {
    return this.#inner instanceof PcapngReader ? this.#inner.zeroTailBytes : 0;
  }

  /** Adds input bytes. The reader keeps views into `chunk`: do not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error("CaptureReader.push after end()");
    if (this.#inner !== undefined) {
      this.#inner.push(chunk);
      return;
    }
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
  }

  /** Declares the end of input. */
  end(): void {
    this.#ended = true;
    this.#inner?.end();
  }

  /**
   * The next item, or `undefined` when more input is needed or the input is
   * exhausted. Throws {@linkcode CodecError} at damage, or when the input is
   * none of the three formats.
   */
  next(): CaptureItem | undefined {
    if (this.#inner === undefined && !this.#detect()) return undefined;
    return this.#inner!.next();
  }

  /**
   * Like {@linkcode CaptureReader.next}, but a packet (pcapng or classic
   * pcap) is read into `slot` and `slot` is returned: without allocation
   * for pcapng's Enhanced Packet Blocks.
   */
  nextInto(slot: PacketSlot): CaptureItem | PacketSlot | undefined {
    if (this.#inner === undefined && !this.#detect()) return undefined;
    const inner = this.#inner!;
    if (inner instanceof PcapngReader) return inner.nextInto(slot);
    const item = inner.next();
    return item?.kind === "packet" ? slot.fill(item) : item;
  }

  /** Decides the format once enough input is there; false when more is needed. */
  #detect(): boolean {
    if (this.#pendingBytes < DETECT_BYTES && !this.#ended) return false;
    if (this.#pendingBytes === 0) return false;
    const head = new Uint8Array(Math.min(this.#pendingBytes, DETECT_BYTES));
    let p = 0;
    for (const c of this.#pending) {
      if (p >= head.length) break;
      const n = Math.min(c.length, head.length - p);
      head.set(c.subarray(0, n), p);
      p += n;
    }
    const guess = detectCaptureFormat(head);
    this.#guess = guess;
    if (guess.format === "unknown") {
      throw new CodecError("capture", 0, `not pcapng, pcap or a FUSE stream: ${guess.reason}`);
    }
    this.#start(guess);
    return true;
  }

  #start(guess: FormatGuess): void {
    this.#guess = guess;
    const max = this.#options.maxBlockBytes;
    const inner = guess.format === "pcapng"
      ? new PcapngReader({ maxBlockBytes: max })
      : guess.format === "pcap"
      ? new PcapReader({ maxRecordBytes: max })
      : new FuseStreamReader({ maxMessageBytes: max });
    for (const c of this.#pending) inner.push(c);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#ended) inner.end();
    this.#inner = inner;
  }
}

/**
 * Reads a whole capture from an (async) iterable of chunks, yielding items
 * as they complete; constant memory. Rejects with {@linkcode CodecError} at
 * damage, after yielding everything before it.
 */
export async function* readCapture(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: CaptureReaderOptions = {},
): AsyncGenerator<CaptureItem> {
  const r = new CaptureReader(options);
  for await (const chunk of chunks) {
    r.push(chunk);
    for (let item = r.next(); item !== undefined; item = r.next()) yield item;
  }
  r.end();
  for (let item = r.next(); item !== undefined; item = r.next()) yield item;
}
