/**
 * Streaming classic pcap reader, in the same push/pull style as
 * {@linkcode PcapngReader}: the file header comes out as interface 0 and each
 * record as a {@linkcode CapturePacket}. Both byte orders, microsecond and
 * nanosecond magic.
 *
 * Layout: the pcap file format (draft-ietf-opsawg-pcap): a 24-byte file
 * header, then records of a 16-byte header and the captured bytes.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import { ChunkQueue } from "./_chunks.ts";
import { DEFAULT_MAX_BLOCK_BYTES } from "./reader.ts";
import {
  type CapturePacket,
  type InterfaceBlock,
  PCAP_MAGIC_MICROSECONDS,
  PCAP_MAGIC_NANOSECONDS,
  type PcapngOption,
} from "./types.ts";

/** Options for {@linkcode PcapReader}. */
export interface PcapReaderOptions {
  /** Largest record accepted, in bytes (default 64 MiB); a larger length field is damage. */
  maxRecordBytes?: number;
}

/** The classic pcap file header, returned first as interface 0. */
export interface PcapFileHeader extends InterfaceBlock {
  /** Byte order of the file. */
  byteOrder: "little" | "big";
  /** True for the nanosecond magic (0xa1b23c4d), false for microseconds. */
  nanosecond: boolean;
  /** File format major version (2). */
  majorVersion: number;
  /** File format minor version (4). */
  minorVersion: number;
}

const EMPTY_OPTIONS: PcapngOption[] = Object.freeze([]) as unknown as PcapngOption[];
const swap32 = (n: number) =>
  (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;

/**
 * A push/pull classic pcap parser.
 *
 * @example
 * ```ts
 * import { PcapReader } from "./pcap.ts";
 * const reader = new PcapReader();
 * reader.push(new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0]));
 * reader.end();
 * console.log(reader.next()?.kind); // "interface"
 * ```
 */
export class PcapReader {
  #q = new ChunkQueue();
  #max: number;
  #ended = false;
  #error: CodecError | undefined;
  #header: PcapFileHeader | undefined;
  #le = true;
  #unit = 1000n;

  /** Builds a reader; nothing is read until {@linkcode PcapReader.push}. */
  constructor(options: PcapReaderOptions = {}) {
    this.#max = options.maxRecordBytes ?? DEFAULT_MAX_BLOCK_BYTES;
  }

  /** Adds input bytes. The reader keeps views into `chunk`: do not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (this.#ended) throw new Error("PcapReader.push after end()");
    this.#q.push(chunk);
  }

  /** Declares the end of input: a partial record left over becomes a truncation error. */
  end(): void {
    this.#ended = true;
  }

  /** Absolute stream offset of the next unread byte. */
  get offset(): number {
    return this.#q.consumed;
  }

  /** The file header once read, else `undefined`. */
  get header(): PcapFileHeader | undefined {
    return this.#header;
  }

  /**
   * The file header (first) or the next record, or `undefined` when more
   * input is needed or the input is exhausted. Throws {@linkcode CodecError}
   * at damage, and again on every later call.
   */
  next(): PcapFileHeader | CapturePacket | undefined {
    if (this.#error !== undefined) throw this.#error;
    try {
      return this.#next();
    } catch (e) {
      if (e instanceof CodecError) {
        this.#error = e;
        this.#q.clear();
      }
      throw e;
    }
  }

  #next(): PcapFileHeader | CapturePacket | undefined {
    const q = this.#q;
    const off = q.consumed;
    if (this.#header === undefined) {
      if (q.available < 24) {
        if (this.#ended) {
          throw new CodecError(
            "pcap_header",
            off,
            `truncated: ${q.available} bytes, the file header needs 24`,
          );
        }
        return undefined;
      }
      const magic = q.u32(0, true);
      let le: boolean;
      if (magic === PCAP_MAGIC_MICROSECONDS || magic === PCAP_MAGIC_NANOSECONDS) le = true;
      else if (
        swap32(magic) === PCAP_MAGIC_MICROSECONDS || swap32(magic) === PCAP_MAGIC_NANOSECONDS
      ) le = false;
      else {
        throw new CodecError(
          "pcap_header.magic_number",
          off,
          `expected 0xa1b2c3d4 or 0xa1b23c4d in either byte order, found 0x${
            magic.toString(16).padStart(8, "0")
          }`,
        );
      }
      const nanosecond = q.u32(0, le) === PCAP_MAGIC_NANOSECONDS;
      const majorVersion = q.u16(4, le);
      const minorVersion = q.u16(6, le);
      if (majorVersion !== 2) {
        throw new CodecError(
          "pcap_header.version_major",
          off + 4,
          `expected 2, found ${majorVersion}`,
        );
      }
      const snapLen = q.u32(16, le);
      const linkType = q.u32(20, le) & 0x0fffffff; // upper bits carry FCS information
      q.take(24);
      this.#le = le;
      this.#unit = nanosecond ? 1n : 1000n;
      this.#header = {
        kind: "interface",
        offset: off,
        interfaceId: 0,
        linkType,
        snapLen,
        tsresol: nanosecond ? 9 : 6,
        tsoffset: 0n,
        options: EMPTY_OPTIONS,
        byteOrder: le ? "little" : "big",
        nanosecond,
        majorVersion,
        minorVersion,
      };
      return this.#header;
    }
    const avail = q.available;
    if (avail < 16) {
      if (this.#ended && avail > 0) {
        throw new CodecError(
          "pcap_record",
          off,
          `truncated: the input ends ${avail} bytes into a 16-byte record header`,
        );
      }
      return undefined;
    }
    const le = this.#le;
    const capturedLength = q.u32(8, le);
    const originalLength = q.u32(12, le);
    if (capturedLength > this.#max) {
      throw new CodecError(
        "pcap_record.incl_len",
        off + 8,
        `record of ${capturedLength} bytes is over the ${this.#max}-byte limit`,
      );
    }
    if (avail < 16 + capturedLength) {
      if (this.#ended) {
        throw new CodecError(
          "pcap_record",
          off,
          `truncated: the input ends ${avail} bytes into a record that needs ${
            16 + capturedLength
          }`,
        );
      }
      return undefined;
    }
    const seconds = q.u32(0, le);
    const fraction = q.u32(4, le);
    const limit = this.#unit === 1n ? 1_000_000_000 : 1_000_000;
    if (fraction >= limit) {
      throw new CodecError(
        "pcap_record.ts_fraction",
        off + 4,
        `expected less than ${limit}, found ${fraction}`,
      );
    }
    const b = q.take(16 + capturedLength);
    return {
      kind: "packet",
      offset: off,
      interfaceId: 0,
      timestampNs: BigInt(seconds) * 1_000_000_000n + BigInt(fraction) * this.#unit,
      capturedLength,
      originalLength,
      data: b.subarray(16),
      flags: 0,
      direction: undefined,
      comment: undefined,
      options: EMPTY_OPTIONS,
    };
  }
}
