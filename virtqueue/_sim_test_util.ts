/**
 * Test helpers: one guest memory with a ring and a buffer area, and the
 * driver and device sides of a queue over it.
 *
 * @module
 */
import { GuestMemory } from "./guest_memory.ts";
import { createDeviceQueue, createDriverQueue } from "./mod.ts";
import type {
  DeviceQueue,
  DeviceQueueOptions,
  DriverQueue,
  QueueConfig,
  RingLayout,
} from "./types.ts";

/** A ready pair of queue sides. */
export interface QueuePair {
  mem: GuestMemory;
  config: QueueConfig;
  drv: DriverQueue;
  dev: DeviceQueue;
}

/** Guest memory from 0x10000 with the ring parts at fixed places and buffers after them. */
export function makePair(
  layout: RingLayout,
  size: number,
  options: {
    eventIdx?: boolean;
    indirect?: boolean;
    indirectMode?: "always" | "multi";
    bufferBytes?: number;
    device?: DeviceQueueOptions;
  } = {},
): QueuePair {
  const ringBytes = 16 * size + 8 * size + 4096;
  const bufferBytes = options.bufferBytes ?? 1 << 20;
  const base = 0x10000;
  const total = ringBytes + bufferBytes;
  const mem = new GuestMemory([{
    guestAddr: BigInt(base),
    size: total,
    userAddr: 0x7f00_0000_0000n,
    bytes: new Uint8Array(total),
  }]);
  const desc = base;
  const driver = desc + 16 * size;
  const device = (driver + 6 + 2 * size + 3) & ~3;
  const config: QueueConfig = {
    size,
    desc: BigInt(desc),
    driver: BigInt(driver),
    device: BigInt(device),
    eventIdx: options.eventIdx,
    indirect: options.indirect,
  };
  const drv = createDriverQueue(layout, mem, config, {
    buffers: { addr: BigInt(base + ringBytes), size: bufferBytes },
    indirectMode: options.indirectMode,
  });
  const dev = createDeviceQueue(layout, mem, config, options.device);
  return { mem, config, drv, dev };
}

/** The reply the test device writes for `request` into `capacity` bytes. */
export function replyFor(request: Uint8Array, capacity: number): Uint8Array {
  const n = Math.min(capacity, request.length + 7);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = request.length === 0 ? (i * 7) & 255 : request[i % request.length] ^ 0x5a;
  }
  return out;
}
