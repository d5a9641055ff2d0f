import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { decodeMmioRegisters, mmioRegisterName, VIRTIO_MMIO, VIRTIO_MMIO_MAGIC } from "./mmio.ts";
import { decodePciCommonCfg, VIRTIO_PCI_COMMON_CFG } from "./pci.ts";

Deno.test("virtio-mmio register block decodes", () => {
  const b = new Uint8Array(0x100 + 44);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, VIRTIO_MMIO_MAGIC, true);
  dv.setUint32(VIRTIO_MMIO.Version, 2, true);
  dv.setUint32(VIRTIO_MMIO.DeviceID, 26, true);
  dv.setUint32(VIRTIO_MMIO.QueueDescLow, 0x1000, true);
  dv.setUint32(VIRTIO_MMIO.QueueDescHigh, 1, true);
  dv.setUint32(VIRTIO_MMIO.QueueDeviceLow, 0x3000, true);
  b[0x100] = 0x41;
  const r = decodeMmioRegisters(b);
  assert.equal(r.version, 2);
  assert.equal(r.deviceId, 26);
  assert.equal(r.queueDesc, 0x1_0000_1000n);
  assert.equal(r.queueDevice, 0x3000n);
  assert.equal(r.config.length, 44);
  assert.equal(r.config[0], 0x41);
  assert.equal(mmioRegisterName(0x050), "QueueNotify");
  assert.equal(mmioRegisterName(0x051), undefined);
  b[0] = 0;
  assert.throws(() => decodeMmioRegisters(b), CodecError);
  assert.throws(() => decodeMmioRegisters(new Uint8Array(16)), CodecError);
});

Deno.test("virtio-pci common cfg decodes the 56 and 64 byte forms", () => {
  const b = new Uint8Array(64);
  const dv = new DataView(b.buffer);
  dv.setUint16(VIRTIO_PCI_COMMON_CFG.num_queues, 3, true);
  b[VIRTIO_PCI_COMMON_CFG.device_status] = 15;
  dv.setUint16(VIRTIO_PCI_COMMON_CFG.queue_size, 128, true);
  dv.setBigUint64(VIRTIO_PCI_COMMON_CFG.queue_driver, 0xabc000n, true);
  dv.setUint16(VIRTIO_PCI_COMMON_CFG.admin_queue_num, 2, true);
  const full = decodePciCommonCfg(b);
  assert.equal(full.num_queues, 3);
  assert.equal(full.device_status, 15);
  assert.equal(full.queue_size, 128);
  assert.equal(full.queue_driver, 0xabc000n);
  assert.equal(full.admin_queue_num, 2);
  const v1 = decodePciCommonCfg(b.subarray(0, 56));
  assert.equal(v1.queue_reset, undefined);
  assert.equal(v1.admin_queue_num, undefined);
  assert.throws(() => decodePciCommonCfg(b.subarray(0, 55)), CodecError);
});
