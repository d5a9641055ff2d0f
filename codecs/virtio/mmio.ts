/**
 * The virtio-mmio register map (virtio spec transport-mmio.tex), version 2
 * (modern) with the legacy (version 1) registers named too. Decode only.
 *
 * @module
 */
import { CodecError } from "../errors.ts";

/** `MagicValue`: "virt" little-endian. */
export const VIRTIO_MMIO_MAGIC = 0x74726976;

/** Register offsets of the virtio-mmio transport. */
export const VIRTIO_MMIO = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  /** Legacy only. */
  GuestPageSize: 0x028,
  QueueSel: 0x030,
  QueueSizeMax: 0x034,
  QueueSize: 0x038,
  /** Legacy only. */
  QueueAlign: 0x03c,
  /** Legacy only. */
  QueuePFN: 0x040,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  SHMSel: 0x0ac,
  SHMLenLow: 0x0b0,
  SHMLenHigh: 0x0b4,
  SHMBaseLow: 0x0b8,
  SHMBaseHigh: 0x0bc,
  QueueReset: 0x0c0,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

/** `InterruptStatus` bits. */
export const VIRTIO_MMIO_INT = {
  /** Used buffer notification. */
  VRING: 1,
  /** Configuration change notification. */
  CONFIG: 2,
} as const;

/** Register name for an offset below 0x100, or `undefined`. */
export function mmioRegisterName(offset: number): string | undefined {
  for (const [name, off] of Object.entries(VIRTIO_MMIO)) if (off === offset) return name;
  return undefined;
}

/** A snapshot of the registers a reader can decode from a 0x100+ byte register block. */
export interface MmioRegisters {
  /** `MagicValue` (must be 0x74726976). */
  magic: number;
  /** 2 for modern, 1 for legacy. */
  version: number;
  /** Device type (26 for virtio-fs). */
  deviceId: number;
  /** Subsystem vendor. */
  vendorId: number;
  /** Value of every 32-bit register by name, as read from the block. */
  raw: Record<string, number>;
  /** Descriptor area address (modern), from the Low/High pair. */
  queueDesc: bigint;
  /** Driver area address (modern). */
  queueDriver: bigint;
  /** Device area address (modern). */
  queueDevice: bigint;
  /** Device-specific configuration bytes after 0x100. */
  config: Uint8Array;
}

/** Decodes a register block (as dumped from a device's MMIO window). */
export function decodeMmioRegisters(bytes: Uint8Array): MmioRegisters {
  if (bytes.length < VIRTIO_MMIO.Config) {
    throw new CodecError("virtio_mmio", 0, `expected at least 256 bytes, found ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  if (magic !== VIRTIO_MMIO_MAGIC) {
    throw new CodecError(
      "virtio_mmio.MagicValue",
      0,
      `expected 0x74726976, found 0x${magic.toString(16)}`,
    );
  }
  const raw: Record<string, number> = {};
  for (const [name, off] of Object.entries(VIRTIO_MMIO)) {
    if (off < VIRTIO_MMIO.Config) raw[name] = dv.getUint32(off, true);
  }
  const pair = (lo: number, hi: number) =>
    (BigInt(dv.getUint32(hi, true)) << 32n) | BigInt(dv.getUint32(lo, true));
  return {
    magic,
    version: raw.Version,
    deviceId: raw.DeviceID,
    vendorId: raw.VendorID,
    raw,
    queueDesc: pair(VIRTIO_MMIO.QueueDescLow, VIRTIO_MMIO.QueueDescHigh),
    queueDriver: pair(VIRTIO_MMIO.QueueDriverLow, VIRTIO_MMIO.QueueDriverHigh),
    queueDevice: pair(VIRTIO_MMIO.QueueDeviceLow, VIRTIO_MMIO.QueueDeviceHigh),
    config: bytes.slice(VIRTIO_MMIO.Config),
  };
}
