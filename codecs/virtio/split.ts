/**
 * Split virtqueue layout (virtio spec split-ring.tex, "Split Virtqueues"):
 * a descriptor table, a driver-written available ring and a device-written
 * used ring. All fields are little-endian.
 *
 * @module
 */
import { CodecError } from "../errors.ts";

/** `struct virtq_desc` flags. */
export const VIRTQ_DESC_F = {
  /** The buffer continues in the descriptor named by `next`. */
  NEXT: 1,
  /** The buffer is device write-only (otherwise device read-only). */
  WRITE: 2,
  /** The buffer holds a table of descriptors. */
  INDIRECT: 4,
} as const;

/** `virtq_avail.flags`: the driver asks not to be interrupted (ignored with EVENT_IDX). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** `virtq_used.flags`: the device asks not to be notified (ignored with EVENT_IDX). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Bytes of one `struct virtq_desc` (addr u64, len u32, flags u16, next u16). */
export const SPLIT_DESC_SIZE = 16;
/** Bytes of one `struct virtq_used_elem` (id u32, len u32). */
export const SPLIT_USED_ELEM_SIZE = 8;
/** Largest split queue size (the spec's 32768). */
export const SPLIT_MAX_QUEUE_SIZE = 32768;

/** Required alignment of each split ring part (virtio 1.x "Virtqueue Part Alignment"). */
export const SPLIT_ALIGN = { desc: 16, avail: 2, used: 4 } as const;

/** Byte offsets of the fields of `struct virtq_desc`. */
export const SPLIT_DESC_OFFSET = { addr: 0, len: 8, flags: 12, next: 14 } as const;

/** One decoded `struct virtq_desc`. */
export interface SplitDesc {
  /** Guest-physical address of the buffer. */
  addr: bigint;
  /** Length of the buffer in bytes. */
  len: number;
  /** VIRTQ_DESC_F_* bits. */
  flags: number;
  /** Index of the next descriptor when NEXT is set. */
  next: number;
}

/** Sizes in bytes of the three parts of a split ring of `size` entries. */
export interface SplitRingSizes {
  /** Descriptor table: 16 × size. */
  desc: number;
  /** Available ring: flags, idx, ring[size], used_event (6 + 2 × size). */
  avail: number;
  /** Used ring: flags, idx, ring[size], avail_event (6 + 8 × size). */
  used: number;
}

/** Checks that `size` is a valid split queue size (a power of two, 1..32768). */
export function checkSplitQueueSize(size: number): void {
  if (
    !Number.isInteger(size) || size < 1 || size > SPLIT_MAX_QUEUE_SIZE || (size & (size - 1)) !== 0
  ) {
    throw new CodecError(
      "virtqueue.size",
      0,
      `expected a power of two from 1 to 32768, found ${size}`,
    );
  }
}

/** Byte sizes of the descriptor table, available ring and used ring. */
export function splitRingSizes(size: number): SplitRingSizes {
  checkSplitQueueSize(size);
  return {
    desc: SPLIT_DESC_SIZE * size,
    avail: 6 + 2 * size,
    used: 6 + SPLIT_USED_ELEM_SIZE * size,
  };
}

/** Guest addresses of the three parts of one split ring. */
export interface SplitRingLayout {
  /** Descriptor table address. */
  desc: bigint;
  /** Available ring (driver area) address. */
  avail: bigint;
  /** Used ring (device area) address. */
  used: bigint;
  /** First byte after the used ring. */
  end: bigint;
}

function alignUp(v: bigint, a: bigint): bigint {
  return (v + a - 1n) / a * a;
}

/**
 * Lays a split ring out contiguously from `base`: descriptors, then the
 * available ring, then the used ring aligned to `align` (4 for virtio 1.x,
 * 4096 for the legacy layout).
 */
export function splitRingLayout(
  base: bigint,
  size: number,
  options: { align?: number } = {},
): SplitRingLayout {
  const s = splitRingSizes(size);
  const align = BigInt(options.align ?? SPLIT_ALIGN.used);
  const desc = alignUp(base, BigInt(SPLIT_ALIGN.desc));
  const avail = desc + BigInt(s.desc);
  const used = alignUp(avail + BigInt(s.avail), align);
  return { desc, avail, used, end: used + BigInt(s.used) };
}

/** Byte offsets inside the available ring for a queue of `size`. */
export function splitAvailOffsets(size: number): { flags: 0; idx: 2; ring: 4; used_event: number } {
  return { flags: 0, idx: 2, ring: 4, used_event: 4 + 2 * size };
}

/** Byte offsets inside the used ring for a queue of `size`. */
export function splitUsedOffsets(size: number): { flags: 0; idx: 2; ring: 4; avail_event: number } {
  return { flags: 0, idx: 2, ring: 4, avail_event: 4 + SPLIT_USED_ELEM_SIZE * size };
}

/** Decodes the descriptor at byte `offset` of `bytes` (16 bytes). */
export function decodeSplitDesc(bytes: Uint8Array, offset = 0): SplitDesc {
  if (offset < 0 || offset + SPLIT_DESC_SIZE > bytes.length) {
    throw new CodecError(
      "virtq_desc",
      offset,
      `need 16 bytes, ${Math.max(0, bytes.length - offset)} left`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, SPLIT_DESC_SIZE);
  return {
    addr: dv.getBigUint64(0, true),
    len: dv.getUint32(8, true),
    flags: dv.getUint16(12, true),
    next: dv.getUint16(14, true),
  };
}

/** Encodes a descriptor into `bytes` at `offset`. */
export function encodeSplitDesc(desc: SplitDesc, bytes: Uint8Array, offset = 0): void {
  if (offset < 0 || offset + SPLIT_DESC_SIZE > bytes.length) {
    throw new CodecError(
      "virtq_desc",
      offset,
      `need 16 bytes, ${Math.max(0, bytes.length - offset)} left`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, SPLIT_DESC_SIZE);
  dv.setBigUint64(0, desc.addr, true);
  dv.setUint32(8, desc.len, true);
  dv.setUint16(12, desc.flags, true);
  dv.setUint16(14, desc.next, true);
}

/** Names the flags of a split descriptor (`NEXT|WRITE`), or `-` for none. */
export function splitDescFlagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & VIRTQ_DESC_F.NEXT) out.push("NEXT");
  if (flags & VIRTQ_DESC_F.WRITE) out.push("WRITE");
  if (flags & VIRTQ_DESC_F.INDIRECT) out.push("INDIRECT");
  const rest = flags & ~7;
  if (rest) out.push(`0x${rest.toString(16)}`);
  return out;
}

/**
 * `vring_need_event` (split-ring.tex, "Used Buffer Notification Suppression"):
 * true when moving the index from `oldIdx` to `newIdx` crossed `eventIdx`,
 * all in u16 arithmetic.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}
