/**
 * The interfaces both ring layouts implement, so transports and tests can
 * serve or drive a queue without caring whether it is split or packed.
 *
 * @module
 */
import type { DescChain } from "./chain.ts";
import type { VirtqueueError } from "./errors.ts";

/** Which ring layout a queue uses. */
export type RingLayout = "split" | "packed";

/** Where a queue lives and what was negotiated for it. */
export interface QueueConfig {
  /** Number of entries (split: a power of two up to 32768; packed: 1..32768). */
  size: number;
  /** Descriptor table (split) or descriptor ring (packed), guest-physical. */
  desc: bigint;
  /** Driver area: available ring (split) or driver event suppression (packed). */
  driver: bigint;
  /** Device area: used ring (split) or device event suppression (packed). */
  device: bigint;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  eventIdx?: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  indirect?: boolean;
  /** VIRTIO_F_NOTIFY_ON_EMPTY negotiated (split, without EVENT_IDX). */
  notifyOnEmpty?: boolean;
}

/** Options of a device-side queue. */
export interface DeviceQueueOptions {
  /**
   * vhost-user SET_VRING_BASE value. Split: the next available index to
   * read. Packed: bits 0..14 the next available position and bit 15 its
   * wrap counter; bits 16..31 the same for the used side (defaults to the
   * avail half). Without it the queue starts fresh.
   */
  base?: number;
  /** Called for every malformed chain, which the queue returns as used with length 0. */
  onChainError?: (error: VirtqueueError) => void;
}

/** The device side of a virtqueue. */
export interface DeviceQueue {
  /** Ring layout. */
  readonly layout: RingLayout;
  /** Queue size. */
  readonly size: number;
  /**
   * The next available chain, or `null` when there is none (or the queue
   * needs a reset). Malformed chains never come out: they are returned to
   * the driver with length 0 and reported through `onChainError`.
   */
  pop(): DescChain | null;
  /**
   * Returns a chain to the driver with `len` bytes written (default:
   * `chain.written`). The chain object is the queue's again: a later `pop`
   * may reuse it, so read what you need of it before pushing.
   */
  push(chain: DescChain, len?: number): void;
  /** Whether the driver must be interrupted for the buffers pushed since the last call. */
  needsInterrupt(): boolean;
  /** Asks the driver not to kick while the device is polling. */
  disableKicks(): void;
  /**
   * Asks the driver to kick again; returns true when buffers arrived
   * meanwhile, so the caller must pop again before sleeping.
   */
  enableKicks(): boolean;
  /** True when an available buffer is waiting. */
  hasAvailable(): boolean;
  /** vhost-user GET_VRING_BASE value (see {@linkcode DeviceQueueOptions.base}). */
  getBase(): number;
  /** Set when a ring-level fault means the device must stop until reset (DEVICE_NEEDS_RESET). */
  readonly needsReset: VirtqueueError | undefined;
  /** Count of malformed chains returned so far. */
  readonly malformed: number;
}

/** A buffer the device returned, as the driver collects it. */
export interface UsedBuffer {
  /** The token `add` returned. */
  token: number;
  /** Bytes the device reported writing. */
  len: number;
  /** A copy of those bytes, gathered from the writable parts. */
  written: Uint8Array;
}

/** Options of a driver-side queue. */
export interface DriverQueueOptions {
  /** Guest memory area the driver allocates buffers and indirect tables from. */
  buffers: { addr: bigint; size: number };
  /**
   * When to use an indirect table (needs `indirect` in the config): `always`
   * for every buffer, `multi` when it has more than one part (default).
   */
  indirectMode?: "always" | "multi";
}

/** The driver side of a virtqueue. */
export interface DriverQueue {
  /** Ring layout. */
  readonly layout: RingLayout;
  /** Queue size. */
  readonly size: number;
  /**
   * Makes a buffer available: `readable` parts (copied into guest memory)
   * then writable parts of the given sizes. Returns a token, or `null` when
   * there is no room (descriptors or buffer memory) until buffers are used.
   */
  add(readable: readonly Uint8Array[], writableSizes: readonly number[]): number | null;
  /** Whether the device must be kicked for the buffers added since the last call. */
  kickNeeded(): boolean;
  /** Collects every buffer the device has used since the last call. */
  takeUsed(): UsedBuffer[];
  /** Asks the device not to interrupt. */
  disableInterrupts(): void;
  /** Asks the device to interrupt again; true when used buffers are already waiting. */
  enableInterrupts(): boolean;
  /** Buffers added and not yet collected. */
  readonly inFlight: number;
}
