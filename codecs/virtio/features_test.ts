import assert from "node:assert/strict";
import { featureBit, featureNames, formatFeatures, hasFeature, VIRTIO_F } from "./features.ts";

Deno.test("feature bits have the spec's numbers", () => {
  assert.equal(VIRTIO_F.NOTIFY_ON_EMPTY, 24);
  assert.equal(VIRTIO_F.INDIRECT_DESC, 28);
  assert.equal(VIRTIO_F.EVENT_IDX, 29);
  assert.equal(VIRTIO_F.VERSION_1, 32);
  assert.equal(VIRTIO_F.RING_PACKED, 34);
  assert.equal(VIRTIO_F.RING_RESET, 40);
});

Deno.test("featureNames names known bits, device bits and unknown bits", () => {
  const w = featureBit(0) | featureBit(29) | featureBit(30) | featureBit(32) | featureBit(50);
  assert.deepEqual(featureNames(w), [
    "VIRTIO_FS_F_NOTIFICATION",
    "VIRTIO_F_EVENT_IDX",
    "VHOST_USER_F_PROTOCOL_FEATURES",
    "VIRTIO_F_VERSION_1",
    "bit50",
  ]);
  assert.deepEqual(featureNames(featureBit(0), { deviceId: 2 }), ["bit0"]);
  assert.deepEqual(featureNames(featureBit(30), { vhostUser: false }), ["bit30"]);
  assert.equal(formatFeatures(0n), "0x0 (none)");
  assert.equal(formatFeatures(featureBit(34)), "0x400000000 (VIRTIO_F_RING_PACKED)");
  assert.equal(hasFeature(featureBit(63), 63), true);
  assert.equal(hasFeature(featureBit(63), 62), false);
});
