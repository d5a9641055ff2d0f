/**
 * Streaming pcapng writer: builds little-endian blocks and hands complete
 * blocks to a sink, so a file cut off at any moment (SIGKILL) is readable up
 * to its last complete block. With `bufferBytes` set it batches blocks and
 * still only ever emits whole ones; the caller decides when to
 * {@linkcode PcapngWriter.flush} (a recorder does it on a timer, every few
 * hundred milliseconds at most).
 *
 * Layouts: pcapng specification (draft-ietf-opsawg-pcapng) section 4.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import {
  BLOCK_ENHANCED_PACKET,
  BLOCK_INTERFACE_DESCRIPTION,
  BLOCK_SECTION_HEADER,
  BYTE_ORDER_MAGIC,
  type Direction,
  EPB_FLAGS_INBOUND,
  EPB_FLAGS_OUTBOUND,
  LINKTYPE_WIRESHARK_UPPER_PDU,
  OPT_COMMENT,
  OPT_EPB_FLAGS,
  OPT_EPB_PACKETID,
  OPT_EPB_QUEUE,
  OPT_IF_DESCRIPTION,
  OPT_IF_HARDWARE,
  OPT_IF_NAME,
  OPT_IF_OS,
  OPT_IF_TSRESOL,
  OPT_SHB_HARDWARE,
  OPT_SHB_OS,
  OPT_SHB_USERAPPL,
} from "./types.ts";

/** Options for {@linkcode PcapngWriter}: the Section Header Block's contents and buffering. */
export interface PcapngWriterOptions {
  /** shb_userappl (default `ringside`). */
  userappl?: string;
  /** shb_os, when wanted. */
  os?: string;
  /** shb_hardware, when wanted. */
  hardware?: string;
  /** opt_comment on the section, when wanted. */
  comment?: string;
  /**
   * Batch blocks until this many bytes are pending, then emit them as one
   * chunk (default 0: every block is emitted as soon as it is written).
   */
  bufferBytes?: number;
}

/** An interface (channel) to describe with an Interface Description Block. */
export interface InterfaceOptions {
  /** if_name, e.g. `vq1`, `/dev/fuse`, `vhost-user`. */
  name: string;
  /** if_description, when wanted. */
  description?: string;
  /** LINKTYPE_ value (default {@linkcode LINKTYPE_WIRESHARK_UPPER_PDU}). */
  linkType?: number;
  /** Snapshot length (default 0: no limit). */
  snapLen?: number;
  /** if_os, when wanted. */
  os?: string;
  /** if_hardware, when wanted. */
  hardware?: string;
  /** opt_comment, when wanted. */
  comment?: string;
}

/** One packet for an Enhanced Packet Block. */
export interface PacketOptions {
  /** Nanoseconds since the Unix epoch (every interface has if_tsresol = 9). */
  timestampNs: bigint;
  /** The packet bytes, or several pieces written back to back (no concatenation copy). */
  data: Uint8Array | readonly Uint8Array[];
  /** Direction, written to epb_flags bits 0-1. */
  direction?: Direction;
  /** Further epb_flags bits (the direction bits are set from `direction`). */
  flags?: number;
  /** Length on the wire when the data was cut short (default: the data length). */
  originalLength?: number;
  /** opt_comment, when wanted. */
  comment?: string;
  /** epb_packetid, when wanted. */
  packetId?: bigint;
  /** epb_queue, when wanted. */
  queue?: number;
}

const utf8 = new TextEncoder();
const MIN_BUFFER = 64 * 1024;
const EMPTY = new Uint8Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Encoded string options, sized and ready to copy into a block. */
function stringOptions(pairs: [number, string | undefined][]): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  for (const [code, s] of pairs) {
    if (s === undefined) continue;
    const v = utf8.encode(s);
    if (v.length > 0xffff) {
      throw new CodecError(`option[${code}]`, 0, `string of ${v.length} bytes is over 65535`);
    }
    out.push([code, v]);
  }
  return out;
}

function optionsSize(opts: [number, Uint8Array][]): number {
  if (opts.length === 0) return 0;
  let n = 4; // opt_endofopt
  for (const [, v] of opts) n += 4 + pad4(v.length);
  return n;
}

/**
 * Writes a pcapng stream: the Section Header Block at construction, then
 * interfaces and packets in any order (an interface before its packets).
 *
 * @example
 * ```ts
 * import { PcapngWriter } from "./writer.ts";
 * const chunks: Uint8Array[] = [];
 * const w = new PcapngWriter((c) => chunks.push(c), { userappl: "ringside 0.1.0" });
 * const vq = w.addInterface({ name: "vq1", description: "virtio-fs request queue 1" });
 * w.writePacket(vq, { timestampNs: 1700000000123456789n, data: new Uint8Array(40), direction: "inbound" });
 * w.flush();
 * ```
 */
export class PcapngWriter {
  #sink: (chunk: Uint8Array) => void;
  #bufferBytes: number;
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  #interfaces = 0;
  #written = 0;

  /**
   * Builds a writer that passes complete blocks to `sink` (which owns each
   * chunk it is given) and writes the Section Header Block.
   */
  constructor(sink: (chunk: Uint8Array) => void, options: PcapngWriterOptions = {}) {
    this.#sink = sink;
    this.#bufferBytes = Math.max(0, options.bufferBytes ?? 0);
    this.#buf = EMPTY;
    this.#view = EMPTY_VIEW;
    const opts = stringOptions([
      [OPT_COMMENT, options.comment],
      [OPT_SHB_HARDWARE, options.hardware],
      [OPT_SHB_OS, options.os],
      [OPT_SHB_USERAPPL, options.userappl ?? "ringside"],
    ]);
    const total = 28 + optionsSize(opts);
    const p = this.#begin(total);
    const v = this.#view;
    v.setUint32(p, BLOCK_SECTION_HEADER, true);
    v.setUint32(p + 4, total, true);
    v.setUint32(p + 8, BYTE_ORDER_MAGIC, true);
    v.setUint16(p + 12, 1, true);
    v.setUint16(p + 14, 0, true);
    v.setBigInt64(p + 16, -1n, true); // section length not known while streaming
    this.#options(p + 24, opts);
    this.#end(p, total);
  }

  /** Number of interfaces described so far. */
  get interfaceCount(): number {
    return this.#interfaces;
  }

  /** Bytes handed to the sink so far. */
  get bytesWritten(): number {
    return this.#written;
  }

  /** Bytes written into blocks but not yet handed to the sink. */
  get bufferedBytes(): number {
    return this.#pos;
  }

  /**
   * Describes a channel with an Interface Description Block (if_tsresol = 9:
   * nanoseconds); returns its interface id for
   * {@linkcode PcapngWriter.writePacket}.
   */
  addInterface(iface: InterfaceOptions): number {
    const opts = stringOptions([
      [OPT_COMMENT, iface.comment],
      [OPT_IF_NAME, iface.name],
      [OPT_IF_DESCRIPTION, iface.description],
      [OPT_IF_OS, iface.os],
      [OPT_IF_HARDWARE, iface.hardware],
    ]);
    opts.push([OPT_IF_TSRESOL, new Uint8Array([9])]);
    const total = 20 + optionsSize(opts);
    const p = this.#begin(total);
    const v = this.#view;
    v.setUint32(p, BLOCK_INTERFACE_DESCRIPTION, true);
    v.setUint32(p + 4, total, true);
    v.setUint16(p + 8, iface.linkType ?? LINKTYPE_WIRESHARK_UPPER_PDU, true);
    v.setUint16(p + 10, 0, true);
    v.setUint32(p + 12, iface.snapLen ?? 0, true);
    this.#options(p + 16, opts);
    this.#end(p, total);
    return this.#interfaces++;
  }

  /** Writes one Enhanced Packet Block on interface `interfaceId`. */
  writePacket(interfaceId: number, packet: PacketOptions): void {
    if (!Number.isInteger(interfaceId) || interfaceId < 0 || interfaceId >= this.#interfaces) {
      throw new RangeError(
        `interface ${interfaceId} was not added (there are ${this.#interfaces})`,
      );
    }
    const parts = packet.data instanceof Uint8Array ? [packet.data] : packet.data;
    let length = 0;
    for (let i = 0; i < parts.length; i++) length += parts[i].length;
    let flags = packet.flags ?? 0;
    if (packet.direction === "inbound") flags = (flags & ~3) | EPB_FLAGS_INBOUND;
    else if (packet.direction === "outbound") flags = (flags & ~3) | EPB_FLAGS_OUTBOUND;
    const comment = packet.comment === undefined ? undefined : utf8.encode(packet.comment);
    if (comment !== undefined && comment.length > 0xffff) {
      throw new CodecError("opt_comment", 0, `comment of ${comment.length} bytes is over 65535`);
    }
    let optSize = 0;
    if (flags !== 0) optSize += 8;
    if (packet.queue !== undefined) optSize += 8;
    if (packet.packetId !== undefined) optSize += 12;
    if (comment !== undefined) optSize += 4 + pad4(comment.length);
    if (optSize > 0) optSize += 4;
    const total = 32 + pad4(length) + optSize;
    const p = this.#begin(total);
    const v = this.#view;
    const buf = this.#buf;
    v.setUint32(p, BLOCK_ENHANCED_PACKET, true);
    v.setUint32(p + 4, total, true);
    v.setUint32(p + 8, interfaceId, true);
    const ts = BigInt.asUintN(64, packet.timestampNs);
    v.setUint32(p + 12, Number(ts >> 32n), true);
    v.setUint32(p + 16, Number(ts & 0xffffffffn), true);
    v.setUint32(p + 20, length, true);
    v.setUint32(p + 24, packet.originalLength ?? length, true);
    let q = p + 28;
    for (let i = 0; i < parts.length; i++) {
      buf.set(parts[i], q);
      q += parts[i].length;
    }
    const padded = p + 28 + pad4(length);
    buf.fill(0, q, padded);
    q = padded;
    if (optSize > 0) {
      if (flags !== 0) {
        v.setUint32(q, OPT_EPB_FLAGS | (4 << 16), true);
        v.setUint32(q + 4, flags >>> 0, true);
        q += 8;
      }
      if (packet.queue !== undefined) {
        v.setUint32(q, OPT_EPB_QUEUE | (4 << 16), true);
        v.setUint32(q + 4, packet.queue >>> 0, true);
        q += 8;
      }
      if (packet.packetId !== undefined) {
        v.setUint32(q, OPT_EPB_PACKETID | (8 << 16), true);
        v.setBigUint64(q + 4, BigInt.asUintN(64, packet.packetId), true);
        q += 12;
      }
      if (comment !== undefined) {
        q = this.#option(q, OPT_COMMENT, comment);
      }
      v.setUint32(q, 0, true);
    }
    this.#end(p, total);
  }

  /** Hands every pending complete block to the sink (nothing when none is pending). */
  flush(): void {
    if (this.#pos === 0) return;
    const out = this.#buf.subarray(0, this.#pos);
    this.#written += this.#pos;
    this.#pos = 0;
    // The sink owns `out`; later blocks go to a fresh buffer, allocated when needed.
    this.#buf = EMPTY;
    this.#view = EMPTY_VIEW;
    this.#sink(out);
  }

  /** Reserves `total` bytes for a block; returns where it starts in the buffer. */
  #begin(total: number): number {
    if (this.#bufferBytes === 0) {
      // one exact-size buffer per block, handed over whole
      this.#buf = new Uint8Array(total);
      this.#view = new DataView(this.#buf.buffer);
      this.#pos = 0;
      return 0;
    }
    if (this.#pos + total > this.#buf.length) {
      this.flush();
      this.#buf = new Uint8Array(Math.max(MIN_BUFFER, this.#bufferBytes * 2, total));
      this.#view = new DataView(this.#buf.buffer);
    }
    return this.#pos;
  }

  /** Finishes the block at `p`: trailing length, then flush if due. */
  #end(p: number, total: number): void {
    this.#view.setUint32(p + total - 4, total, true);
    this.#pos = p + total;
    if (this.#pos >= this.#bufferBytes) this.flush();
  }

  #option(q: number, code: number, value: Uint8Array): number {
    this.#view.setUint16(q, code, true);
    this.#view.setUint16(q + 2, value.length, true);
    this.#buf.set(value, q + 4);
    const end = q + 4 + pad4(value.length);
    this.#buf.fill(0, q + 4 + value.length, end);
    return end;
  }

  #options(q: number, opts: [number, Uint8Array][]): void {
    if (opts.length === 0) return;
    for (const [code, value] of opts) q = this.#option(q, code, value);
    this.#view.setUint32(q, 0, true);
  }
}
