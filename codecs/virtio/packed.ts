/**
 * Packed virtqueue layout (virtio spec packed-ring.tex): one descriptor ring
 * written by both sides, and two event suppression structures.
 *
 * @module
 */
import { CodecError } from "../errors.ts";

/** `struct pvirtq_desc` flags (NEXT, WRITE, INDIRECT as in split rings; AVAIL and USED wrap bits). */
export const PACKED_DESC_F = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
  AVAIL: 1 << 7,
  USED: 1 << 15,
} as const;

/** Bytes of `struct pvirtq_desc` (addr u64, len u32, id u16, flags u16). */
export const PACKED_DESC_SIZE = 16;
/** Byte offsets of the fields of `struct pvirtq_desc`. */
export const PACKED_DESC_OFFSET = { addr: 0, len: 8, id: 12, flags: 14 } as const;
/** Bytes of `struct pvirtq_event_suppress` (off_wrap u16, flags u16). */
export const PACKED_EVENT_SIZE = 4;
/** Largest packed queue size (2^15: the ring offset must fit 15 bits). */
export const PACKED_MAX_QUEUE_SIZE = 32768;
/** Alignment of the packed descriptor ring and of the event suppression structures. */
export const PACKED_ALIGN = { desc: 16, event: 4 } as const;

/** `pvirtq_event_suppress.flags` values (RING_EVENT_FLAGS_*). */
export const RING_EVENT_FLAGS = {
  ENABLE: 0,
  DISABLE: 1,
  /** Only with VIRTIO_F_EVENT_IDX: notify when the ring reaches `off_wrap`. */
  DESC: 2,
} as const;

/** One decoded `struct pvirtq_desc`. */
export interface PackedDesc {
  /** Guest-physical address of the buffer. */
  addr: bigint;
  /** Buffer length; in a used descriptor, bytes written. */
  len: number;
  /** Buffer ID. */
  id: number;
  /** PACKED_DESC_F bits. */
  flags: number;
}

/** Decoded `struct pvirtq_event_suppress`. */
export interface PackedEventSuppress {
  /** Ring offset (bits 0..14) at which to notify. */
  offset: number;
  /** Wrap counter (bit 15) that goes with `offset`. */
  wrap: boolean;
  /** RING_EVENT_FLAGS_* (bits 0..1; the rest reserved). */
  flags: number;
}

/** Checks that `size` is a valid packed queue size (1..32768, any value). */
export function checkPackedQueueSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > PACKED_MAX_QUEUE_SIZE) {
    throw new CodecError("virtqueue.size", 0, `expected 1 to 32768, found ${size}`);
  }
}

/** Decodes the packed descriptor at byte `offset` of `bytes`. */
export function decodePackedDesc(bytes: Uint8Array, offset = 0): PackedDesc {
  if (offset < 0 || offset + PACKED_DESC_SIZE > bytes.length) {
    throw new CodecError(
      "pvirtq_desc",
      offset,
      `need 16 bytes, ${Math.max(0, bytes.length - offset)} left`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, PACKED_DESC_SIZE);
  return {
    addr: dv.getBigUint64(0, true),
    len: dv.getUint32(8, true),
    id: dv.getUint16(12, true),
    flags: dv.getUint16(14, true),
  };
}

/** Encodes a packed descriptor into `bytes` at `offset`. */
export function encodePackedDesc(desc: PackedDesc, bytes: Uint8Array, offset = 0): void {
  if (offset < 0 || offset + PACKED_DESC_SIZE > bytes.length) {
    throw new CodecError(
      "pvirtq_desc",
      offset,
      `need 16 bytes, ${Math.max(0, bytes.length - offset)} left`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, PACKED_DESC_SIZE);
  dv.setBigUint64(0, desc.addr, true);
  dv.setUint32(8, desc.len, true);
  dv.setUint16(12, desc.id, true);
  dv.setUint16(14, desc.flags, true);
}

/** Decodes an event suppression structure (4 bytes) at `offset`. */
export function decodePackedEvent(bytes: Uint8Array, offset = 0): PackedEventSuppress {
  if (offset < 0 || offset + PACKED_EVENT_SIZE > bytes.length) {
    throw new CodecError(
      "pvirtq_event_suppress",
      offset,
      `need 4 bytes, ${Math.max(0, bytes.length - offset)} left`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, PACKED_EVENT_SIZE);
  const offWrap = dv.getUint16(0, true);
  return {
    offset: offWrap & 0x7fff,
    wrap: (offWrap & 0x8000) !== 0,
    flags: dv.getUint16(2, true) & 3,
  };
}

/** Encodes an event suppression structure into `bytes` at `offset`. */
export function encodePackedEvent(ev: PackedEventSuppress, bytes: Uint8Array, offset = 0): void {
  if (offset < 0 || offset + PACKED_EVENT_SIZE > bytes.length) {
    throw new CodecError(
      "pvirtq_event_suppress",
      offset,
      `need 4 bytes, ${Math.max(0, bytes.length - offset)} left`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, PACKED_EVENT_SIZE);
  dv.setUint16(0, (ev.offset & 0x7fff) | (ev.wrap ? 0x8000 : 0), true);
  dv.setUint16(2, ev.flags, true);
}

/** Names the flags of a packed descriptor (`NEXT|AVAIL`), with unknown bits in hex. */
export function packedDescFlagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & PACKED_DESC_F.NEXT) out.push("NEXT");
  if (flags & PACKED_DESC_F.WRITE) out.push("WRITE");
  if (flags & PACKED_DESC_F.INDIRECT) out.push("INDIRECT");
  if (flags & PACKED_DESC_F.AVAIL) out.push("AVAIL");
  if (flags & PACKED_DESC_F.USED) out.push("USED");
  const rest = flags & ~(7 | PACKED_DESC_F.AVAIL | PACKED_DESC_F.USED);
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

/**
 * The event-index test for packed rings: positions are taken modulo
 * 2 × size with the wrap counter as the extra bit, so `newPos`, `oldPos`
 * and the event (`offset`, `wrap`) compare like split ring u16 indices.
 * True when advancing from old to new passed the event.
 */
export function packedNeedEvent(
  event: { offset: number; wrap: boolean },
  positions: { newPos: number; newWrap: boolean; oldPos: number; oldWrap: boolean; size: number },
): boolean {
  const s = positions.size;
  const m = 2 * s;
  const lin = (pos: number, wrap: boolean) => pos + (wrap ? s : 0);
  const n = lin(positions.newPos, positions.newWrap);
  const o = lin(positions.oldPos, positions.oldWrap);
  const e = lin(event.offset, event.wrap);
  return ((n - e - 1 + 2 * m) % m) < ((n - o + m) % m);
}
