/**
 * ringside `codecs/virtio`: virtio feature bits, the virtio-fs device
 * configuration and queue roles, split and packed ring layouts, and the
 * virtio-mmio and virtio-pci register layouts. Pure: no I/O.
 *
 * @example
 * ```ts
 * import { featureNames, splitRingLayout } from "./mod.ts";
 * console.log(featureNames(1n << 29n), splitRingLayout(0x1000n, 256));
 * ```
 *
 * @module
 */
export * from "./features.ts";
export * from "./fs_config.ts";
export * from "./split.ts";
export * from "./packed.ts";
export * from "./mmio.ts";
export * from "./pci.ts";
