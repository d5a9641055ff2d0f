/**
 * Errors of the virtqueue layer: a malformed descriptor chain or ring, and a
 * guest memory access outside the memory table.
 *
 * @module
 */

/** What is wrong with a chain or a ring, in stable words tests and logs can match. */
export type VirtqueueErrorKind =
  /** A `next` chain came back to a descriptor it had visited. */
  | "loop"
  /** More descriptors than the queue size (or the indirect table) allows. */
  | "chain-too-long"
  /** A buffer, table or ring part is not inside guest memory. */
  | "address-out-of-memory"
  /** A device-readable descriptor after a device-writable one. */
  | "readable-after-writable"
  /** INDIRECT set inside an indirect table (split rings). */
  | "nested-indirect"
  /** INDIRECT and NEXT set on the same descriptor. */
  | "indirect-with-next"
  /** An indirect table of zero bytes or not a multiple of 16. */
  | "bad-indirect-length"
  /** INDIRECT used although VIRTIO_F_INDIRECT_DESC was not negotiated. */
  | "indirect-not-negotiated"
  /** A head or `next` index at or past the queue size. */
  | "index-out-of-range"
  /** The available index moved by more than the queue size (the ring is unusable). */
  | "avail-idx-jump"
  /** A reply larger than the chain's writable space. */
  | "reply-too-long"
  /** The device returned a buffer the driver did not have in flight. */
  | "bad-used-id"
  /** The device reported more bytes written than the buffer can hold. */
  | "bad-used-len";

/** A malformed chain or ring, with the queue position where it was found. */
export class VirtqueueError extends Error {
  /** Which rule was broken. */
  readonly kind: VirtqueueErrorKind;
  /** Head descriptor index (split) or buffer id (packed) of the chain, when known. */
  readonly head: number | undefined;

  /** Builds an error of `kind` with a one-line `message`. */
  constructor(kind: VirtqueueErrorKind, message: string, head?: number) {
    super(message);
    this.name = "VirtqueueError";
    this.kind = kind;
    this.head = head;
  }
}

/** A guest address range outside every memory region. */
export class GuestMemoryError extends Error {
  /** The guest-physical (or user) address of the access. */
  readonly addr: bigint;
  /** Bytes that were to be accessed. */
  readonly len: number;

  /** Builds an error for an access of `len` bytes at `addr`. */
  constructor(addr: bigint, len: number, what = "guest address") {
    super(`${what} 0x${addr.toString(16)} (+${len}) is outside guest memory`);
    this.name = "GuestMemoryError";
    this.addr = addr;
    this.len = len;
  }
}
