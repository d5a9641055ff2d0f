/**
 * Streaming pcapng reader: push chunks in, pull complete blocks out, in
 * constant memory (one block plus the chunks it spans). Both byte orders,
 * any number of sections; unknown block types come out as `other` blocks.
 * Damage (a bad length, a missing section header, a truncated tail) is a
 * {@linkcode CodecError} naming the byte offset, raised only after every
 * complete block before it has been returned.
 *
 * Zeros from a block boundary to the end of the input are a clean end, not
 * damage: a recording written with O_DIRECT preallocates its file ahead of
 * the writes, and one that was killed leaves that space zero
 * ({@linkcode PcapngReader.zeroTailBytes} counts it).
 *
 * Layouts: pcapng specification (draft-ietf-opsawg-pcapng) section 4.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import { ChunkQueue } from "./_chunks.ts";
import {
  BLOCK_ENHANCED_PACKET,
  BLOCK_INTERFACE_DESCRIPTION,
  BLOCK_SECTION_HEADER,
  BYTE_ORDER_MAGIC,
  type CapturePacket,
  type Direction,
  OPT_COMMENT,
  OPT_EPB_FLAGS,
  OPT_IF_DESCRIPTION,
  OPT_IF_HARDWARE,
  OPT_IF_NAME,
  OPT_IF_OS,
  OPT_IF_TSOFFSET,
  OPT_IF_TSRESOL,
  OPT_SHB_HARDWARE,
  OPT_SHB_OS,
  OPT_SHB_USERAPPL,
  type PcapngBlock,
  type PcapngOption,
} from "./types.ts";

/** Options for {@linkcode PcapngReader}. */
export interface PcapngReaderOptions {
  /** Largest block accepted, in bytes (default 64 MiB); a larger length field is damage. */
  maxBlockBytes?: number;
}

/** Default largest block: far above any FUSE or vhost-user message. */
export const DEFAULT_MAX_BLOCK_BYTES = 64 * 1024 * 1024;

/** Bytes of a zero tail checked per step: the tail may be tens of MiB, read as it is pushed. */
const ZERO_SCAN_BYTES = 64 * 1024;

const EMPTY_OPTIONS: PcapngOption[] = Object.freeze([]) as unknown as PcapngOption[];
const utf8 = new TextDecoder();
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;

interface InterfaceState {
  mul: bigint;
  div: bigint;
  offsetNs: bigint;
  exact: boolean;
}

function u16(b: Uint8Array, p: number, le: boolean): number {
  return le ? b[p] | (b[p + 1] << 8) : (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number, le: boolean): number {
  return le
    ? (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0
    : ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function u64(b: Uint8Array, p: number, le: boolean): bigint {
  const a = BigInt(u32(b, p, le));
  const c = BigInt(u32(b, p + 4, le));
  return le ? (c << 32n) | a : (a << 32n) | c;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** Parses an option list in `b[start, end)`; `base` is the block's stream offset. */
function parseOptions(
  b: Uint8Array,
  start: number,
  end: number,
  le: boolean,
  base: number,
  block: string,
): PcapngOption[] {
  if (start >= end) return EMPTY_OPTIONS;
  const out: PcapngOption[] = [];
  let p = start;
  while (p + 4 <= end) {
    const code = u16(b, p, le);
    const len = u16(b, p + 2, le);
    if (code === 0) break;
    if (p + 4 + len > end) {
      throw new CodecError(
        `${block}.options[${out.length}].option_length`,
        base + p + 2,
        `option ${code} says ${len} bytes, only ${end - p - 4} left in the block`,
      );
    }
    out.push({ code, value: b.subarray(p + 4, p + 4 + len) });
    p += 4 + ((len + 3) & ~3);
  }
  return out;
}

function stringOption(options: PcapngOption[], code: number): string | undefined {
  for (const o of options) if (o.code === code) return utf8.decode(o.value);
  return undefined;
}

/** Conversion of raw timestamp units to nanoseconds for an if_tsresol byte. */
function tsConversion(tsresol: number): { mul: bigint; div: bigint } {
  const exp = BigInt(tsresol & 0x7f);
  if (tsresol & 0x80) return { mul: 1_000_000_000n, div: 1n << exp };
  return exp <= 9n ? { mul: 10n ** (9n - exp), div: 1n } : { mul: 1n, div: 10n ** (exp - 9n) };
}

/**
 * An Enhanced Packet Block read in place by
 * {@linkcode PcapngReader.nextInto}: every field is overwritten by the next
 * call. The packet data is `array[start, end)`, a region of the pushed input
 * (or of a copy when the block spanned two pushed chunks) that stays valid
 * as long as it is referenced.
 */
export class PacketSlot {
  /** Marks a slot among the blocks `nextInto` returns. */
  readonly kind = "packet_slot" as const;
  /** Byte offset of the block (or pcap record header) in the stream. */
  offset = 0;
  /** The interface it was captured on. */
  interfaceId = 0;
  /** Time since the Unix epoch in ns (resolution and offset applied): the high 32 bits. */
  timeHigh = 0;
  /** The low 32 bits of the time in ns. */
  timeLow = 0;
  /** The array holding the packet data. */
  array: Uint8Array = new Uint8Array(0);
  /** Where the packet data starts in `array`. */
  start = 0;
  /** Where it ends (exclusive). */
  end = 0;
  /** epb_flags (0 when absent); bits 0-1 are the direction (1 inbound, 2 outbound). */
  flags = 0;

  /** The time in ns as a bigint. */
  get timestampNs(): bigint {
    return (BigInt(this.timeHigh) << 32n) | BigInt(this.timeLow);
  }

  /** Fills the slot from a packet item (a classic pcap record, say). */
  fill(packet: CapturePacket): this {
    const ns = BigInt.asUintN(64, packet.timestampNs);
    this.offset = packet.offset;
    this.interfaceId = packet.interfaceId;
    this.timeHigh = Number(ns >> 32n);
    this.timeLow = Number(ns & 0xffffffffn);
    this.array = packet.data;
    this.start = 0;
    this.end = packet.data.length;
    this.flags = packet.direction === "inbound"
      ? (packet.flags & ~3) | 1
      : packet.direction === "outbound"
      ? (packet.flags & ~3) | 2
      : packet.flags & ~3;
    return this;
  }
}

/**
 * A push/pull pcapng parser.
 *
 * @example
 * ```ts
 * import { PcapngReader } from "./reader.ts";
 * const reader = new PcapngReader();
 * const chunks: Uint8Array[] = []; // e.g. from a file's readable stream
 * for (const chunk of chunks) {
 *   reader.push(chunk);
 *   for (let b = reader.next(); b !== undefined; b = reader.next()) {
 *     if (b.kind === "packet") console.log(b.timestampNs, b.data.length);
 *   }
 * }
 * reader.end();
 * for (let b = reader.next(); b !== undefined; b = reader.next()) console.log(b.kind);
 * ```
 */
export class PcapngReader {
  #q = new ChunkQueue();
  #max: number;
  #ended = false;
  #error: CodecError | undefined;
  #inSection = false;
  #le = true;
  #interfaces: InterfaceState[] = [];
  /** Zero bytes read since a zero block header at `#zeroStart`; -1 until one is met. */
  #zeros = -1;
  #zeroStart = 0;

  /** Builds a reader; nothing is read until {@linkcode PcapngReader.push}. */
  constructor(options: PcapngReaderOptions = {}) {
    this.#max = options.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES;
  }

  /** Adds input bytes. The reader keeps views into `chunk`: do not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error("PcapngReader.push after end()");
    this.#q.push(chunk);
  }

  /** Declares the end of input: a partial block left over becomes a truncation error. */
  end(): void {
    this.#ended = true;
  }

  /** Absolute stream offset of the next unread byte. */
  get offset(): number {
    return this.#q.consumed;
  }

  /** Bytes pushed but not yet returned as blocks: at most one partial block plus the last chunk. */
  get bufferedBytes(): number {
    return this.#q.available;
  }

  /**
   * Bytes of zeros the input ends in, counted from the block boundary where
   * they start (an 8-byte block header of zeros): the preallocated tail of an
   * O_DIRECT recording that was interrupted. 0 when there is none. While
   * input is still pushed it counts the zeros read so far; a nonzero byte
   * after them is damage (and this is 0 again).
   */
  get zeroTailBytes(): number {
    return this.#zeros > 0 && this.#error === undefined ? this.#zeros : 0;
  }

  /**
   * The next complete block, or `undefined` when more input is needed (or,
   * after {@linkcode PcapngReader.end}, when the input is exhausted).
   * Throws {@linkcode CodecError} at damage, and again on every later call.
   */
  next(): PcapngBlock | undefined {
    return this.nextInto(undefined) as PcapngBlock | undefined;
  }

  /**
   * Like {@linkcode PcapngReader.next}, but an Enhanced Packet Block is read
   * into `slot` (overwriting it) and `slot` is returned, with no allocation:
   * the analyzers' hot path. Other blocks come back as from `next()`.
   *
   * @example
   * ```ts
   * import { PacketSlot, PcapngReader } from "./reader.ts";
   * const reader = new PcapngReader();
   * const slot = new PacketSlot();
   * reader.end();
   * for (let b = reader.nextInto(slot); b !== undefined; b = reader.nextInto(slot)) {
   *   if (b === slot) console.log(slot.interfaceId, slot.end - slot.start);
   * }
   * ```
   */
  nextInto(slot: PacketSlot | undefined): PcapngBlock | PacketSlot | undefined {
    if (this.#error !== undefined) throw this.#error;
    try {
      return this.#next(slot);
    } catch (e) {
      if (e instanceof CodecError) {
        this.#error = e;
        this.#q.clear();
      }
      throw e;
    }
  }

  #truncated(field: string, need: number): CodecError {
    const have = this.#q.available;
    return new CodecError(
      field,
      this.#q.consumed,
      `truncated: the input ends ${have} bytes into a block that needs ${need}`,
    );
  }

  #next(slot: PacketSlot | undefined): PcapngBlock | PacketSlot | undefined {
    const q = this.#q;
    if (this.#zeros >= 0) return this.#zeroTail();
    const avail = q.available;
    if (avail < 12) {
      if (this.#ended && avail >= 8 && this.#zeroHeader()) return this.#zeroTail();
      if (this.#ended && avail > 0) throw this.#truncated("block", 12);
      return undefined;
    }
    const off = q.consumed;
    let type = q.u32(0, true);
    let le = this.#le;
    if (type === BLOCK_SECTION_HEADER) {
      const bom = q.u32(8, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (bom === BYTE_ORDER_MAGIC_SWAPPED) le = false;
      else {
        throw new CodecError(
          "section_header_block.byte_order_magic",
          off + 8,
          `expected 0x1a2b3c4d in either byte order, found ${hex(bom)}`,
        );
      }
    } else {
      if (!this.#inSection) {
        throw new CodecError(
          "block_type",
          off,
          `expected a Section Header Block (0x0a0d0d0a) first, found ${hex(q.u32(0, true))}`,
        );
      }
      type = q.u32(0, le);
    }
    const total = q.u32(4, le);
    if (total < 12 || total % 4 !== 0) {
      if (this.#zeroHeader()) return this.#zeroTail();
      throw new CodecError(
        "block_total_length",
        off + 4,
        `expected a multiple of 4 of at least 12, found ${total}`,
      );
    }
    if (total > this.#max) {
      throw new CodecError(
        "block_total_length",
        off + 4,
        `block of ${total} bytes is over the ${this.#max}-byte limit`,
      );
    }
    if (avail < total) {
      if (this.#ended) throw this.#truncated(blockName(type), total);
      return undefined;
    }
    const trailing = q.u32(total - 4, le);
    if (trailing !== total) {
      throw new CodecError(
        `${blockName(type)}.block_total_length`,
        off + total - 4,
        `trailing length ${trailing} differs from leading length ${total}`,
      );
    }
    if (slot !== undefined && type === BLOCK_ENHANCED_PACKET) {
      const start = q.takeInPlace(total);
      return this.#packetInto(slot, q.taken, start, total, off, le);
    }
    const b = q.take(total);
    switch (type) {
      case BLOCK_ENHANCED_PACKET:
        return this.#packet(b, off, le);
      case BLOCK_INTERFACE_DESCRIPTION:
        return this.#interface(b, off, le);
      case BLOCK_SECTION_HEADER:
        return this.#section(b, off, le);
      default:
        return { kind: "other", offset: off, blockType: type, body: b.subarray(8, total - 4) };
    }
  }

  /**
   * True (and the zero tail begins) when the next 8 bytes, a block header,
   * are zeros inside a section: block type 0 is reserved and a length of 0
   * impossible, so this is file space that was never written.
   */
  #zeroHeader(): boolean {
    const q = this.#q;
    if (!this.#inSection || q.u32(0, true) !== 0 || q.u32(4, true) !== 0) return false;
    this.#zeros = 0;
    this.#zeroStart = q.consumed;
    return true;
  }

  /**
   * Consumes the zeros pushed so far (in steps, so a long tail is never held
   * whole); throws at the first nonzero byte: zeros with data after them are
   * a hole in the capture, not its end.
   */
  #zeroTail(): undefined {
    const q = this.#q;
    while (q.available > 0) {
      const at = q.consumed;
      const piece = q.take(Math.min(q.available, ZERO_SCAN_BYTES));
      const i = firstNonZero(piece);
      if (i >= 0) {
        throw new CodecError(
          "zero_tail",
          at + i,
          `byte 0x${piece[i].toString(16).padStart(2, "0")} after ${
            this.#zeros + i
          } zero bytes from the block boundary at ${this.#zeroStart}: ` +
            "zeros are the end of an interrupted recording only when nothing but zeros follows",
        );
      }
      this.#zeros += piece.length;
    }
    return undefined;
  }

  #section(b: Uint8Array, off: number, le: boolean): PcapngBlock {
    if (b.length < 28) {
      throw new CodecError(
        "section_header_block.block_total_length",
        off + 4,
        `expected at least 28, found ${b.length}`,
      );
    }
    const majorVersion = u16(b, 12, le);
    const minorVersion = u16(b, 14, le);
    if (majorVersion !== 1) {
      throw new CodecError(
        "section_header_block.major_version",
        off + 12,
        `expected 1, found ${majorVersion}`,
      );
    }
    const raw = u64(b, 16, le);
    const sectionLength = raw >= 1n << 63n ? raw - (1n << 64n) : raw;
    const options = parseOptions(b, 24, b.length - 4, le, off, "section_header_block");
    this.#inSection = true;
    this.#le = le;
    this.#interfaces = [];
    return {
      kind: "section",
      offset: off,
      byteOrder: le ? "little" : "big",
      majorVersion,
      minorVersion,
      sectionLength,
      hardware: stringOption(options, OPT_SHB_HARDWARE),
      os: stringOption(options, OPT_SHB_OS),
      userappl: stringOption(options, OPT_SHB_USERAPPL),
      comment: stringOption(options, OPT_COMMENT),
      options,
    };
  }

  #interface(b: Uint8Array, off: number, le: boolean): PcapngBlock {
    if (b.length < 20) {
      throw new CodecError(
        "interface_description_block.block_total_length",
        off + 4,
        `expected at least 20, found ${b.length}`,
      );
    }
    const linkType = u16(b, 8, le);
    const snapLen = u32(b, 12, le);
    const options = parseOptions(b, 16, b.length - 4, le, off, "interface_description_block");
    let tsresol = 6;
    let tsoffset = 0n;
    for (const o of options) {
      if (o.code === OPT_IF_TSRESOL && o.value.length >= 1) tsresol = o.value[0];
      if (o.code === OPT_IF_TSOFFSET && o.value.length >= 8) {
        tsoffset = BigInt.asIntN(64, u64(o.value, 0, le));
      }
    }
    const { mul, div } = tsConversion(tsresol);
    const offsetNs = tsoffset * 1_000_000_000n;
    this.#interfaces.push({
      mul,
      div,
      offsetNs,
      exact: mul === 1n && div === 1n && offsetNs === 0n,
    });
    return {
      kind: "interface",
      offset: off,
      interfaceId: this.#interfaces.length - 1,
      linkType,
      snapLen,
      name: stringOption(options, OPT_IF_NAME),
      description: stringOption(options, OPT_IF_DESCRIPTION),
      tsresol,
      tsoffset,
      os: stringOption(options, OPT_IF_OS),
      hardware: stringOption(options, OPT_IF_HARDWARE),
      comment: stringOption(options, OPT_COMMENT),
      options,
    };
  }

  #packetInto(
    slot: PacketSlot,
    b: Uint8Array,
    s: number,
    total: number,
    off: number,
    le: boolean,
  ): PacketSlot {
    if (total < 32) {
      throw new CodecError(
        "enhanced_packet_block.block_total_length",
        off + 4,
        `expected at least 32, found ${total}`,
      );
    }
    const interfaceId = u32(b, s + 8, le);
    const iface = this.#interfaces[interfaceId];
    if (iface === undefined) {
      throw new CodecError(
        "enhanced_packet_block.interface_id",
        off + 8,
        `interface ${interfaceId} is not described in this section (it has ${this.#interfaces.length})`,
      );
    }
    const capturedLength = u32(b, s + 20, le);
    const dataEnd = 28 + capturedLength;
    if (dataEnd > total - 4) {
      throw new CodecError(
        "enhanced_packet_block.captured_packet_length",
        off + 20,
        `${capturedLength} bytes do not fit in a block of ${total}`,
      );
    }
    const high = u32(b, s + 12, le);
    const low = u32(b, s + 16, le);
    if (iface.exact) {
      slot.timeHigh = high;
      slot.timeLow = low;
    } else {
      const raw = (BigInt(high) << 32n) | BigInt(low);
      const ns = BigInt.asUintN(64, (raw * iface.mul) / iface.div + iface.offsetNs);
      slot.timeHigh = Number(ns >> 32n);
      slot.timeLow = Number(ns & 0xffffffffn);
    }
    // the options, read in place: only epb_flags matters here
    let flags = 0;
    let p = s + ((dataEnd + 3) & ~3);
    const end = s + total - 4;
    for (let i = 0; p + 4 <= end; i++) {
      const code = u16(b, p, le);
      const len = u16(b, p + 2, le);
      if (code === 0) break;
      if (p + 4 + len > end) {
        throw new CodecError(
          `enhanced_packet_block.options[${i}].option_length`,
          off + p - s + 2,
          `option ${code} says ${len} bytes, only ${end - p - 4} left in the block`,
        );
      }
      if (code === OPT_EPB_FLAGS && len === 4) flags = u32(b, p + 4, le);
      p += 4 + ((len + 3) & ~3);
    }
    slot.offset = off;
    slot.interfaceId = interfaceId;
    slot.array = b;
    slot.start = s + 28;
    slot.end = s + dataEnd;
    slot.flags = flags;
    return slot;
  }

  #packet(b: Uint8Array, off: number, le: boolean): CapturePacket {
    if (b.length < 32) {
      throw new CodecError(
        "enhanced_packet_block.block_total_length",
        off + 4,
        `expected at least 32, found ${b.length}`,
      );
    }
    const interfaceId = u32(b, 8, le);
    const iface = this.#interfaces[interfaceId];
    if (iface === undefined) {
      throw new CodecError(
        "enhanced_packet_block.interface_id",
        off + 8,
        `interface ${interfaceId} is not described in this section (it has ${this.#interfaces.length})`,
      );
    }
    const capturedLength = u32(b, 20, le);
    const originalLength = u32(b, 24, le);
    const dataEnd = 28 + capturedLength;
    if (dataEnd > b.length - 4) {
      throw new CodecError(
        "enhanced_packet_block.captured_packet_length",
        off + 20,
        `${capturedLength} bytes do not fit in a block of ${b.length}`,
      );
    }
    const raw = (BigInt(u32(b, 12, le)) << 32n) | BigInt(u32(b, 16, le));
    const timestampNs = iface.exact ? raw : (raw * iface.mul) / iface.div + iface.offsetNs;
    const options = parseOptions(
      b,
      (dataEnd + 3) & ~3,
      b.length - 4,
      le,
      off,
      "enhanced_packet_block",
    );
    let flags = 0;
    let comment: string | undefined;
    for (let i = 0; i < options.length; i++) {
      const o = options[i];
      if (o.code === OPT_EPB_FLAGS && o.value.length === 4) flags = u32(o.value, 0, le);
      else if (o.code === OPT_COMMENT && comment === undefined) comment = utf8.decode(o.value);
    }
    const dir = flags & 3;
    const direction: Direction | undefined = dir === 1
      ? "inbound"
      : dir === 2
      ? "outbound"
      : undefined;
    return {
      kind: "packet",
      offset: off,
      interfaceId,
      timestampNs,
      capturedLength,
      originalLength,
      data: b.subarray(28, dataEnd),
      flags,
      direction,
      comment,
      options,
    };
  }
}

/** Index of the first nonzero byte of `b`, or -1. */
function firstNonZero(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  // eight bytes at a time where the view allows it
  if (b.byteOffset % 8 === 0) {
    const words = new BigUint64Array(b.buffer, b.byteOffset, n >>> 3);
    let w = 0;
    while (w < words.length && words[w] === 0n) w++;
    i = w * 8;
  }
  for (; i < n; i++) if (b[i] !== 0) return i;
  return -1;
}

function blockName(type: number): string {
  switch (type) {
    case BLOCK_SECTION_HEADER:
      return "section_header_block";
    case BLOCK_INTERFACE_DESCRIPTION:
      return "interface_description_block";
    case BLOCK_ENHANCED_PACKET:
      return "enhanced_packet_block";
    default:
      return `block[${hex(type)}]`;
  }
}
