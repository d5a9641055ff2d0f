/**
 * virtio feature bits (virtio spec "Reserved Feature Bits" and the device
 * type sections) and a printer that turns a feature word into names.
 *
 * @module
 */

/** Device-independent feature bits, numbered as in the virtio spec. */
export const VIRTIO_F = {
  NOTIFY_ON_EMPTY: 24,
  ANY_LAYOUT: 27,
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  NOTIF_CONFIG_DATA: 39,
  RING_RESET: 40,
  ADMIN_VQ: 41,
  SUSPEND: 43,
} as const;

/** Feature bits of the virtio-fs device (device type 26). */
export const VIRTIO_FS_F = {
  NOTIFICATION: 0,
} as const;

/**
 * vhost-user reuses bit 30 of the feature word to announce that protocol
 * features can be negotiated (QEMU docs/interop/vhost-user.rst).
 */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;

/** The virtio device ID of the file system device. */
export const VIRTIO_ID_FS = 26;

/** Device status bits (virtio spec "Device Status Field"). */
export const VIRTIO_STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** Returns the mask of feature `bit` as a bigint. */
export function featureBit(bit: number): bigint {
  return 1n << BigInt(bit);
}

/** True when `features` has `bit` set. */
export function hasFeature(features: bigint, bit: number): boolean {
  return (features >> BigInt(bit) & 1n) === 1n;
}

/** Options for {@linkcode featureNames}. */
export interface FeatureNameOptions {
  /** Device type whose device-specific bits (0..23) should be named; 26 is virtio-fs. */
  deviceId?: number;
  /** Name bit 30 as vhost-user's PROTOCOL_FEATURES (default true). */
  vhostUser?: boolean;
}

/**
 * Names every bit set in `features`: `VIRTIO_F_EVENT_IDX`, `VIRTIO_FS_F_NOTIFICATION`,
 * unknown bits as `bit42`.
 *
 * @example
 * ```ts
 * import { featureNames } from "./features.ts";
 * featureNames((1n << 32n) | (1n << 29n)); // ["VIRTIO_F_EVENT_IDX", "VIRTIO_F_VERSION_1"]
 * ```
 */
export function featureNames(features: bigint, options: FeatureNameOptions = {}): string[] {
  const byBit = new Map<number, string>();
  for (const [name, bit] of Object.entries(VIRTIO_F)) byBit.set(bit, `VIRTIO_F_${name}`);
  if (options.vhostUser ?? true) {
    byBit.set(VHOST_USER_F_PROTOCOL_FEATURES, "VHOST_USER_F_PROTOCOL_FEATURES");
  }
  if (options.deviceId === undefined || options.deviceId === VIRTIO_ID_FS) {
    for (const [name, bit] of Object.entries(VIRTIO_FS_F)) byBit.set(bit, `VIRTIO_FS_F_${name}`);
  }
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if (hasFeature(features, bit)) names.push(byBit.get(bit) ?? `bit${bit}`);
  }
  return names;
}

/** Formats a feature word as `0x... (NAME|NAME)`. */
export function formatFeatures(features: bigint, options: FeatureNameOptions = {}): string {
  const names = featureNames(features, options);
  return `0x${features.toString(16)} (${names.length === 0 ? "none" : names.join("|")})`;
}
