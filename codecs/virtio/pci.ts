/**
 * `struct virtio_pci_common_cfg` (virtio spec transport-pci.tex, "Common
 * configuration structure layout"). Decode only.
 *
 * @module
 */
import { CodecError } from "../errors.ts";

/** Field offsets of `struct virtio_pci_common_cfg`. */
export const VIRTIO_PCI_COMMON_CFG = {
  device_feature_select: 0,
  device_feature: 4,
  driver_feature_select: 8,
  driver_feature: 12,
  config_msix_vector: 16,
  num_queues: 18,
  device_status: 20,
  config_generation: 21,
  queue_select: 22,
  queue_size: 24,
  queue_msix_vector: 26,
  queue_enable: 28,
  queue_notify_off: 30,
  queue_desc: 32,
  queue_driver: 40,
  queue_device: 48,
  queue_notif_config_data: 56,
  queue_reset: 58,
  admin_queue_index: 60,
  admin_queue_num: 62,
} as const;

/** Size of the structure up to and including `queue_device` (virtio 1.0). */
export const VIRTIO_PCI_COMMON_CFG_SIZE_V1 = 56;
/** Size with the queue_notif_config_data, queue_reset and admin queue fields. */
export const VIRTIO_PCI_COMMON_CFG_SIZE = 64;

/** `VIRTIO_PCI_CAP_*` capability types (`cfg_type` of `struct virtio_pci_cap`). */
export const VIRTIO_PCI_CAP = {
  COMMON_CFG: 1,
  NOTIFY_CFG: 2,
  ISR_CFG: 3,
  DEVICE_CFG: 4,
  PCI_CFG: 5,
  SHARED_MEMORY_CFG: 8,
  VENDOR_CFG: 9,
} as const;

/** Decoded common configuration; later fields are absent when the input is the 56-byte form. */
export interface VirtioPciCommonCfg {
  /** Which 32-bit word `device_feature` shows. */
  device_feature_select: number;
  /** Feature bits of the selected word. */
  device_feature: number;
  /** Which 32-bit word `driver_feature` sets. */
  driver_feature_select: number;
  /** Driver-accepted feature bits of the selected word. */
  driver_feature: number;
  /** MSI-X vector for configuration changes. */
  config_msix_vector: number;
  /** Number of virtqueues. */
  num_queues: number;
  /** Device status (VIRTIO_STATUS bits). */
  device_status: number;
  /** Configuration atomicity value. */
  config_generation: number;
  /** Which queue the queue_* fields show. */
  queue_select: number;
  /** Size of the selected queue. */
  queue_size: number;
  /** MSI-X vector of the selected queue. */
  queue_msix_vector: number;
  /** 1 when the selected queue is enabled. */
  queue_enable: number;
  /** Notification offset multiplier index of the selected queue. */
  queue_notify_off: number;
  /** Descriptor area address. */
  queue_desc: bigint;
  /** Driver area address. */
  queue_driver: bigint;
  /** Device area address. */
  queue_device: bigint;
  /** With VIRTIO_F_NOTIF_CONFIG_DATA. */
  queue_notif_config_data?: number;
  /** With VIRTIO_F_RING_RESET. */
  queue_reset?: number;
  /** With VIRTIO_F_ADMIN_VQ. */
  admin_queue_index?: number;
  /** With VIRTIO_F_ADMIN_VQ. */
  admin_queue_num?: number;
}

/** Decodes the common configuration structure (56 to 64 bytes are read). */
export function decodePciCommonCfg(bytes: Uint8Array): VirtioPciCommonCfg {
  if (bytes.length < VIRTIO_PCI_COMMON_CFG_SIZE_V1) {
    throw new CodecError(
      "virtio_pci_common_cfg",
      0,
      `expected at least 56 bytes, found ${bytes.length}`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const o = VIRTIO_PCI_COMMON_CFG;
  const cfg: VirtioPciCommonCfg = {
    device_feature_select: dv.getUint32(o.device_feature_select, true),
    device_feature: dv.getUint32(o.device_feature, true),
    driver_feature_select: dv.getUint32(o.driver_feature_select, true),
    driver_feature: dv.getUint32(o.driver_feature, true),
    config_msix_vector: dv.getUint16(o.config_msix_vector, true),
    num_queues: dv.getUint16(o.num_queues, true),
    device_status: dv.getUint8(o.device_status),
    config_generation: dv.getUint8(o.config_generation),
    queue_select: dv.getUint16(o.queue_select, true),
    queue_size: dv.getUint16(o.queue_size, true),
    queue_msix_vector: dv.getUint16(o.queue_msix_vector, true),
    queue_enable: dv.getUint16(o.queue_enable, true),
    queue_notify_off: dv.getUint16(o.queue_notify_off, true),
    queue_desc: dv.getBigUint64(o.queue_desc, true),
    queue_driver: dv.getBigUint64(o.queue_driver, true),
    queue_device: dv.getBigUint64(o.queue_device, true),
  };
  if (bytes.length >= 60) {
    cfg.queue_notif_config_data = dv.getUint16(o.queue_notif_config_data, true);
    cfg.queue_reset = dv.getUint16(o.queue_reset, true);
  }
  if (bytes.length >= VIRTIO_PCI_COMMON_CFG_SIZE) {
    cfg.admin_queue_index = dv.getUint16(o.admin_queue_index, true);
    cfg.admin_queue_num = dv.getUint16(o.admin_queue_num, true);
  }
  return cfg;
}
