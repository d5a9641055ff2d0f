/**
 * ringside `virtqueue`: split and packed rings over bounds-checked guest
 * memory. The device side pops descriptor chains as byte streams and pushes
 * used buffers, with EVENT_IDX notification suppression; the driver side adds
 * buffers, decides kicks and collects used buffers (tests, the simulated
 * guest and the vhost-user front-end use it).
 *
 * @example
 * ```ts
 * import { createDeviceQueue, createDriverQueue, GuestMemory } from "./mod.ts";
 * const mem = new GuestMemory([{ guestAddr: 0n, size: 1 << 16, userAddr: 0n, bytes: new Uint8Array(1 << 16) }]);
 * const config = { size: 8, desc: 0x0n, driver: 0x80n, device: 0x100n };
 * const drv = createDriverQueue("split", mem, config, { buffers: { addr: 0x1000n, size: 0x8000 } });
 * const dev = createDeviceQueue("split", mem, config);
 * const token = drv.add([new TextEncoder().encode("ping")], [16]);
 * const chain = dev.pop()!;
 * dev.push(chain, chain.write(chain.readAll()));
 * console.log(token, drv.takeUsed()[0].len);
 * ```
 *
 * @module
 */
import type { GuestMemory } from "./guest_memory.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import { PackedDriverQueue } from "./packed_driver.ts";
import { SplitDeviceQueue } from "./split_device.ts";
import { SplitDriverQueue } from "./split_driver.ts";
import type {
  DeviceQueue,
  DeviceQueueOptions,
  DriverQueue,
  DriverQueueOptions,
  QueueConfig,
  RingLayout,
} from "./types.ts";

export * from "./types.ts";
export * from "./errors.ts";
export * from "./guest_memory.ts";
export * from "./chain.ts";
export * from "./buffer_pool.ts";
export { SplitDeviceQueue } from "./split_device.ts";
export { PackedDeviceQueue } from "./packed_device.ts";
export { SplitDriverQueue } from "./split_driver.ts";
export { PackedDriverQueue } from "./packed_driver.ts";
export * from "./view.ts";

/** Builds the device side of a queue of the given layout. */
export function createDeviceQueue(
  layout: RingLayout,
  mem: GuestMemory,
  config: QueueConfig,
  options: DeviceQueueOptions = {},
): DeviceQueue {
  return layout === "split"
    ? new SplitDeviceQueue(mem, config, options)
    : new PackedDeviceQueue(mem, config, options);
}

/** Builds the driver side of a queue of the given layout (initialising its ring memory). */
export function createDriverQueue(
  layout: RingLayout,
  mem: GuestMemory,
  config: QueueConfig,
  options: DriverQueueOptions,
): DriverQueue {
  return layout === "split"
    ? new SplitDriverQueue(mem, config, options)
    : new PackedDriverQueue(mem, config, options);
}
