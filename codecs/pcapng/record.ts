/**
 * The ringside capture record: what every Enhanced Packet Block of a ringside
 * capture carries as its packet data.
 *
 * ```
 * Exported-PDU tags (big-endian TLVs, LINKTYPE_WIRESHARK_UPPER_PDU = 252)
 *   tag 12 (dissector name), length 8, "ringside"
 *   tag 0 (end of tags), length 0
 * ringside record header, version 1 (little-endian, 24 bytes)
 *   0 u1 version           1
 *   1 u1 header_length     24; a reader skips bytes past the fields it knows
 *   2 u1 kind              1 fuse_request … 8 ring_chain
 *   3 u1 fd_count          file descriptors passed with a vhost-user message
 *   4 u2 flags             bit 0: chain fields valid; 1: malformed chain;
 *                          2: indirect descriptors; 3: packed ring
 *   6 u2 queue             virtqueue index, 0xffff when not a virtqueue
 *   8 u2 chain_head        descriptor index (split) or buffer id (packed)
 *  10 u2 chain_descriptors descriptors in the chain
 *  12 u4 chain_readable    bytes the driver wrote (device-readable)
 *  16 u4 chain_writable    bytes left for the reply (device-writable)
 *  20 u2 fuse_minor        negotiated FUSE minor, 0 when unknown or n/a
 *  22 u1 malformation      what was wrong with a malformed chain (MALFORMATION_CODES),
 *                          0 when nothing was or a writer did not say (older captures)
 *  23 u1 reserved          0
 * payload: the raw FUSE or vhost-user message; for ring_kick the kick
 * eventfd's counter (u8 LE) when the writer read it, for ring_chain the used
 * length the device returned (u4 LE) when the chain went back used, else empty
 * ```
 *
 * Why Exported PDU rather than LINKTYPE_USER0..15: see ringside.ksy's doc.
 * In short, USER link types are private (no file says which private use it
 * is, and a user's DLT_USER table may already map them to something else),
 * while an Exported-PDU packet names its dissector in every packet, so
 * `tshark -r` reads the file as "Exported PDU" without any setup and the
 * shipped Lua dissector registers under the name "ringside" and is found by
 * that tag.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import type { Direction } from "./types.ts";
import type { PacketOptions } from "./writer.ts";

/** The dissector name in every record's Exported-PDU tag. */
export const RINGSIDE_DISSECTOR_NAME = "ringside";
/** Record header version this codec writes and reads. */
export const RECORD_VERSION = 1;
/** Length of a version-1 record header. */
export const RECORD_HEADER_LENGTH = 24;
/** Exported-PDU tag: end of tags. */
export const EXP_PDU_TAG_END_OF_OPT = 0;
/** Exported-PDU tag: name of the dissector for the bytes after the tags. */
export const EXP_PDU_TAG_DISSECTOR_NAME = 12;

/** Record flag: the chain fields (head, descriptors, readable, writable) are valid. */
export const RECORD_FLAG_CHAIN = 0x0001;
/** Record flag: the descriptor chain was malformed and the request failed. */
export const RECORD_FLAG_MALFORMED = 0x0002;
/** Record flag: the chain used an indirect descriptor table. */
export const RECORD_FLAG_INDIRECT = 0x0004;
/** Record flag: the queue is a packed ring (chain_head is a buffer id). */
export const RECORD_FLAG_PACKED = 0x0008;

/**
 * What was wrong with a malformed descriptor chain or ring (the words of the
 * virtqueue layer's errors), as the header's `malformation` byte codes it.
 */
export type Malformation =
  | "loop"
  | "chain-too-long"
  | "address-out-of-memory"
  | "readable-after-writable"
  | "nested-indirect"
  | "indirect-with-next"
  | "bad-indirect-length"
  | "indirect-not-negotiated"
  | "index-out-of-range"
  | "avail-idx-jump"
  | "reply-too-long"
  | "bad-used-id"
  | "bad-used-len";

/** Wire codes of {@linkcode Malformation} (0: none or not said). */
export const MALFORMATION_CODES: Readonly<Record<Malformation, number>> = Object.freeze({
  "loop": 1,
  "chain-too-long": 2,
  "address-out-of-memory": 3,
  "readable-after-writable": 4,
  "nested-indirect": 5,
  "indirect-with-next": 6,
  "bad-indirect-length": 7,
  "indirect-not-negotiated": 8,
  "index-out-of-range": 9,
  "avail-idx-jump": 10,
  "reply-too-long": 11,
  "bad-used-id": 12,
  "bad-used-len": 13,
});

const MALFORMATION_BY_CODE: (Malformation | undefined)[] = [];
for (const [k, c] of Object.entries(MALFORMATION_CODES)) {
  MALFORMATION_BY_CODE[c] = k as Malformation;
}

/** The {@linkcode Malformation} a header byte names, `undefined` for 0 or an unknown code. */
export function malformationName(code: number): Malformation | undefined {
  return MALFORMATION_BY_CODE[code];
}

/** Value of `queue` in the header when the record is not about a virtqueue. */
export const NO_QUEUE = 0xffff;

/** What a record holds. */
export type RecordKind =
  | "fuse_request"
  | "fuse_reply"
  | "fuse_notify"
  | "vhost_user_front_to_back"
  | "vhost_user_back_to_front"
  | "ring_kick"
  | "ring_call"
  | "ring_chain";

/** Wire codes of {@linkcode RecordKind}. */
export const RECORD_KIND_CODES: Readonly<Record<RecordKind, number>> = Object.freeze({
  fuse_request: 1,
  fuse_reply: 2,
  fuse_notify: 3,
  vhost_user_front_to_back: 4,
  vhost_user_back_to_front: 5,
  ring_kick: 6,
  ring_call: 7,
  ring_chain: 8,
});

const utf8 = new TextDecoder();
const KIND_BY_CODE: (RecordKind | undefined)[] = [];
for (const [k, c] of Object.entries(RECORD_KIND_CODES)) KIND_BY_CODE[c] = k as RecordKind;

/** A descriptor chain's layout. */
export interface ChainSummary {
  /** Head descriptor index (split ring) or buffer id (packed ring). */
  head: number;
  /** Number of descriptors in the chain. */
  descriptors: number;
  /** Device-readable bytes (the request). */
  readableBytes: number;
  /** Device-writable bytes (room for the reply). */
  writableBytes: number;
}

/** A record header to encode. */
export interface RecordHeader {
  /** What the record holds. */
  kind: RecordKind;
  /** Virtqueue index; absent when the channel is not a virtqueue. */
  queue?: number;
  /** Layout of the descriptor chain the message travelled in, when it did. */
  chain?: ChainSummary;
  /** Negotiated FUSE minor version, when known and relevant. */
  fuseMinor?: number;
  /** Number of file descriptors passed with a vhost-user message (default 0). */
  fdCount?: number;
  /** RECORD_FLAG_* bits; RECORD_FLAG_CHAIN is set from `chain`. */
  flags?: number;
  /** What was wrong with a malformed chain (with RECORD_FLAG_MALFORMED). */
  malformation?: Malformation;
}

/** A decoded record header. */
export interface DecodedRecordHeader {
  /** Header version (1). */
  version: number;
  /** Header length in bytes as written (24 for version 1, more from a newer writer). */
  headerLength: number;
  /** What the record holds. */
  kind: RecordKind;
  /** Virtqueue index, absent when the header says 0xffff. */
  queue?: number;
  /** Descriptor chain layout, present when RECORD_FLAG_CHAIN is set. */
  chain?: ChainSummary;
  /** Negotiated FUSE minor, absent when 0. */
  fuseMinor?: number;
  /** File descriptors passed with a vhost-user message. */
  fdCount: number;
  /** RECORD_FLAG_* bits as written. */
  flags: number;
  /** What was wrong with a malformed chain, when the writer said (an unknown code reads as absent). */
  malformation?: Malformation;
}

/** A decoded record: the header, and the message bytes after it. */
export interface DecodedRecord {
  /** The record header. */
  header: DecodedRecordHeader;
  /** The raw FUSE or vhost-user message (a view into the packet data). */
  payload: Uint8Array;
  /** Offset of the payload within the packet data. */
  payloadOffset: number;
}

/** The direction a record of `kind` travels: inbound is to the backend. */
export function recordDirection(kind: RecordKind): Direction {
  switch (kind) {
    case "fuse_request":
    case "vhost_user_front_to_back":
    case "ring_kick":
    case "ring_chain":
      return "inbound";
    default:
      return "outbound";
  }
}

const PDU_TAGS: Uint8Array = (() => {
  const name = new TextEncoder().encode(RINGSIDE_DISSECTOR_NAME);
  const padded = (name.length + 3) & ~3;
  const out = new Uint8Array(4 + padded + 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, EXP_PDU_TAG_DISSECTOR_NAME);
  v.setUint16(2, padded); // trailing NULs count in the length (Exported-PDU rule)
  out.set(name, 4);
  return out;
})();

/** Byte length of the Exported-PDU tags and record header before a payload. */
export const RECORD_PREFIX_LENGTH: number = PDU_TAGS.length + RECORD_HEADER_LENGTH;

function checkRange(field: string, at: number, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new CodecError(field, at, `expected an integer from 0 to ${max}, found ${value}`);
  }
}

/**
 * The bytes that go before a payload in a record's packet data: the
 * Exported-PDU tags and the record header. Write them and the payload as two
 * pieces with `PcapngWriter.writePacket`, so the payload is never copied
 * twice.
 *
 * @example
 * ```ts
 * import { encodeRecordPrefix } from "./record.ts";
 * const prefix = encodeRecordPrefix({ kind: "fuse_request", queue: 1, fuseMinor: 38 });
 * console.log(prefix.length); // 40
 * ```
 */
export function encodeRecordPrefix(header: RecordHeader): Uint8Array {
  const out = new Uint8Array(RECORD_PREFIX_LENGTH);
  out.set(PDU_TAGS, 0);
  const p = PDU_TAGS.length;
  const v = new DataView(out.buffer);
  const code = RECORD_KIND_CODES[header.kind];
  if (code === undefined) {
    throw new CodecError("ringside_record.kind", p + 2, `unknown kind ${String(header.kind)}`);
  }
  const fdCount = header.fdCount ?? 0;
  checkRange("ringside_record.fd_count", p + 3, fdCount, 0xff);
  let flags = header.flags ?? 0;
  checkRange("ringside_record.flags", p + 4, flags, 0xffff);
  const queue = header.queue ?? NO_QUEUE;
  checkRange("ringside_record.queue", p + 6, queue, 0xffff);
  const fuseMinor = header.fuseMinor ?? 0;
  checkRange("ringside_record.fuse_minor", p + 20, fuseMinor, 0xffff);
  const chain = header.chain;
  if (chain !== undefined) {
    flags |= RECORD_FLAG_CHAIN;
    checkRange("ringside_record.chain_head", p + 8, chain.head, 0xffff);
    checkRange("ringside_record.chain_descriptors", p + 10, chain.descriptors, 0xffff);
    checkRange("ringside_record.chain_readable", p + 12, chain.readableBytes, 0xffffffff);
    checkRange("ringside_record.chain_writable", p + 16, chain.writableBytes, 0xffffffff);
  } else {
    flags &= ~RECORD_FLAG_CHAIN;
  }
  out[p] = RECORD_VERSION;
  out[p + 1] = RECORD_HEADER_LENGTH;
  out[p + 2] = code;
  out[p + 3] = fdCount;
  v.setUint16(p + 4, flags, true);
  v.setUint16(p + 6, queue, true);
  if (chain !== undefined) {
    v.setUint16(p + 8, chain.head, true);
    v.setUint16(p + 10, chain.descriptors, true);
    v.setUint32(p + 12, chain.readableBytes, true);
    v.setUint32(p + 16, chain.writableBytes, true);
  }
  v.setUint16(p + 20, fuseMinor, true);
  if (header.malformation !== undefined) {
    const m = MALFORMATION_CODES[header.malformation];
    if (m === undefined) {
      throw new CodecError(
        "ringside_record.malformation",
        p + 22,
        `unknown malformation ${String(header.malformation)}`,
      );
    }
    out[p + 22] = m;
  }
  return out;
}

/** A whole record's packet data: prefix and payload in one array. */
export function encodeRecord(header: RecordHeader, payload: Uint8Array): Uint8Array {
  const prefix = encodeRecordPrefix(header);
  const out = new Uint8Array(prefix.length + payload.length);
  out.set(prefix, 0);
  out.set(payload, prefix.length);
  return out;
}

/**
 * The {@linkcode PacketOptions} for one record: prefix and payload as two
 * pieces (no copy), the direction that `header.kind` travels.
 *
 * @example
 * ```ts
 * import { PcapngWriter } from "./writer.ts";
 * import { recordPacket } from "./record.ts";
 * const w = new PcapngWriter(() => {});
 * const vq = w.addInterface({ name: "vq1" });
 * w.writePacket(vq, recordPacket({ kind: "ring_kick", queue: 1 }, new Uint8Array(0), 123n));
 * ```
 */
export function recordPacket(
  header: RecordHeader,
  payload: Uint8Array,
  timestampNs: bigint,
): PacketOptions {
  return {
    timestampNs,
    data: [encodeRecordPrefix(header), payload],
    direction: recordDirection(header.kind),
  };
}

/**
 * Skips the Exported-PDU tags at the start of `data`; returns where the
 * tagged PDU starts and the dissector name, if a tag gave one.
 */
export function decodeExportedPduTags(
  data: Uint8Array,
): { pduOffset: number; dissectorName?: string } {
  let p = 0;
  let dissectorName: string | undefined;
  for (let i = 0;; i++) {
    if (p + 4 > data.length) {
      throw new CodecError(
        `exported_pdu.tags[${i}]`,
        p,
        `expected a 4-byte tag header, ${data.length - p} bytes left (no end-of-tags tag)`,
      );
    }
    const tag = (data[p] << 8) | data[p + 1];
    const len = (data[p + 2] << 8) | data[p + 3];
    if (p + 4 + len > data.length) {
      throw new CodecError(
        `exported_pdu.tags[${i}].length`,
        p + 2,
        `tag ${tag} says ${len} bytes, ${data.length - p - 4} left`,
      );
    }
    if (tag === EXP_PDU_TAG_END_OF_OPT) return { pduOffset: p + 4 + len, dissectorName };
    if (tag === EXP_PDU_TAG_DISSECTOR_NAME && dissectorName === undefined) {
      let end = p + 4 + len;
      while (end > p + 4 && data[end - 1] === 0) end--;
      dissectorName = utf8.decode(data.subarray(p + 4, end));
    }
    p += 4 + len;
  }
}

/**
 * Decodes the ringside record header at `data[offset]` (the start of the
 * tagged PDU); {@linkcode CodecError} on a short, unknown-version or
 * inconsistent header. Offsets in errors count from the start of `data`.
 */
export function decodeRecordHeader(data: Uint8Array, offset = 0): DecodedRecordHeader {
  const p = offset;
  if (data.length - p < 2) {
    throw new CodecError(
      "ringside_record.version",
      p,
      `expected a record header, ${data.length - p} bytes left`,
    );
  }
  const version = data[p];
  if (version !== RECORD_VERSION) {
    throw new CodecError("ringside_record.version", p, `expected 1, found ${version}`);
  }
  const headerLength = data[p + 1];
  if (headerLength < RECORD_HEADER_LENGTH || headerLength % 4 !== 0) {
    throw new CodecError(
      "ringside_record.header_length",
      p + 1,
      `expected a multiple of 4 of at least ${RECORD_HEADER_LENGTH}, found ${headerLength}`,
    );
  }
  if (data.length - p < headerLength) {
    throw new CodecError(
      "ringside_record.header_length",
      p + 1,
      `header of ${headerLength} bytes, only ${data.length - p} present`,
    );
  }
  const kind = KIND_BY_CODE[data[p + 2]];
  if (kind === undefined) {
    throw new CodecError("ringside_record.kind", p + 2, `unknown record kind ${data[p + 2]}`);
  }
  // hand-rolled little-endian reads: this runs once per packet on the analyzers' hot path
  const flags = data[p + 4] | (data[p + 5] << 8);
  const queue = data[p + 6] | (data[p + 7] << 8);
  const fuseMinor = data[p + 20] | (data[p + 21] << 8);
  const chain = flags & RECORD_FLAG_CHAIN
    ? {
      head: data[p + 8] | (data[p + 9] << 8),
      descriptors: data[p + 10] | (data[p + 11] << 8),
      readableBytes: (data[p + 12] | (data[p + 13] << 8) | (data[p + 14] << 16) |
        (data[p + 15] << 24)) >>> 0,
      writableBytes: (data[p + 16] | (data[p + 17] << 8) | (data[p + 18] << 16) |
        (data[p + 19] << 24)) >>> 0,
    }
    : undefined;
  const out: DecodedRecordHeader = {
    version,
    headerLength,
    kind,
    queue: queue === NO_QUEUE ? undefined : queue,
    chain,
    fuseMinor: fuseMinor === 0 ? undefined : fuseMinor,
    fdCount: data[p + 3],
    flags,
  };
  if (data[p + 22] !== 0) {
    const m = MALFORMATION_BY_CODE[data[p + 22]];
    if (m !== undefined) out.malformation = m;
  }
  return out;
}

/** True when `data` starts with exactly the tags this codec writes (the common case). */
function hasStandardTags(data: Uint8Array): boolean {
  if (data.length < PDU_TAGS.length) return false;
  for (let i = 0; i < PDU_TAGS.length; i++) if (data[i] !== PDU_TAGS[i]) return false;
  return true;
}

/**
 * Decodes a record from an Enhanced Packet Block's data: the Exported-PDU
 * tags (which must name the `ringside` dissector), the header and the
 * payload.
 *
 * @example
 * ```ts
 * import { decodeRecord, encodeRecord } from "./record.ts";
 * const data = encodeRecord({ kind: "ring_kick", queue: 1 }, new Uint8Array(0));
 * console.log(decodeRecord(data).header.kind); // "ring_kick"
 * ```
 */
export function decodeRecord(data: Uint8Array): DecodedRecord {
  if (hasStandardTags(data)) {
    const header = decodeRecordHeader(data, PDU_TAGS.length);
    const payloadOffset = PDU_TAGS.length + header.headerLength;
    return { header, payload: data.subarray(payloadOffset), payloadOffset };
  }
  const { pduOffset, dissectorName } = decodeExportedPduTags(data);
  if (dissectorName !== RINGSIDE_DISSECTOR_NAME) {
    throw new CodecError(
      "exported_pdu.dissector_name",
      0,
      dissectorName === undefined
        ? "no dissector name tag: not a ringside record"
        : `expected "ringside", found "${dissectorName}"`,
    );
  }
  const header = decodeRecordHeader(data, pduOffset);
  const payloadOffset = pduOffset + header.headerLength;
  return { header, payload: data.subarray(payloadOffset), payloadOffset };
}
