import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { decodeFsConfig, encodeFsConfig, fsQueueCount, fsQueueRole } from "./fs_config.ts";

Deno.test("virtio-fs config round-trips with and without notify_buf_size", () => {
  const a = encodeFsConfig({ tag: "MySharedDir", num_request_queues: 2 });
  assert.equal(a.length, 40);
  assert.deepEqual(decodeFsConfig(a), { tag: "MySharedDir", num_request_queues: 2 });
  const b = encodeFsConfig({ tag: "x".repeat(36), num_request_queues: 1, notify_buf_size: 4096 });
  assert.equal(b.length, 44);
  assert.deepEqual(decodeFsConfig(b), {
    tag: "x".repeat(36),
    num_request_queues: 1,
    notify_buf_size: 4096,
  });
  assert.equal(b[36], 1);
});

Deno.test("virtio-fs config rejects short input, long tags and bad UTF-8", () => {
  assert.throws(() => decodeFsConfig(new Uint8Array(39)), CodecError);
  assert.throws(() => decodeFsConfig(new Uint8Array(45)), CodecError);
  assert.throws(() => encodeFsConfig({ tag: "é".repeat(19), num_request_queues: 1 }), CodecError);
  const bad = new Uint8Array(40);
  bad[0] = 0xff;
  assert.throws(
    () => decodeFsConfig(bad),
    (e) => e instanceof CodecError && e.field.endsWith("tag"),
  );
});

Deno.test("virtio-fs queue roles follow the notification feature", () => {
  assert.equal(fsQueueRole(0), "hiprio");
  assert.equal(fsQueueRole(1), "request");
  assert.equal(fsQueueRole(1, { notification: true }), "notification");
  assert.equal(fsQueueRole(2, { notification: true }), "request");
  assert.equal(fsQueueCount(4), 5);
  assert.equal(fsQueueCount(4, { notification: true }), 6);
  assert.throws(() => fsQueueRole(-1), CodecError);
});
