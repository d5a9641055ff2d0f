/**
 * The virtio-fs device configuration space and queue roles (virtio spec
 * device-types/fs: "Device configuration layout" and "Virtqueues").
 *
 * @module
 */
import { CodecError } from "../errors.ts";

/** Bytes of the `tag` field: UTF-8, NUL-padded, not necessarily NUL-terminated. */
export const VIRTIO_FS_TAG_SIZE = 36;

/** Size of `struct virtio_fs_config` with `notify_buf_size` (VIRTIO_FS_F_NOTIFICATION). */
export const VIRTIO_FS_CONFIG_SIZE = 44;

/** Size of the config space without `notify_buf_size`. */
export const VIRTIO_FS_CONFIG_SIZE_NO_NOTIFY = 40;

/** Decoded `struct virtio_fs_config`. */
export interface VirtioFsConfig {
  /** The mount tag the guest passes to `mount -t virtiofs TAG`. */
  tag: string;
  /** Number of request queues (at least 1). */
  num_request_queues: number;
  /** Size of each notification buffer; present only with VIRTIO_FS_F_NOTIFICATION. */
  notify_buf_size?: number;
}

/** Decodes the virtio-fs config space (40 or 44 bytes; longer input is an error). */
export function decodeFsConfig(bytes: Uint8Array): VirtioFsConfig {
  if (bytes.length < VIRTIO_FS_CONFIG_SIZE_NO_NOTIFY) {
    throw new CodecError(
      "virtio_fs_config",
      0,
      `expected at least ${VIRTIO_FS_CONFIG_SIZE_NO_NOTIFY} bytes, found ${bytes.length}`,
    );
  }
  if (bytes.length > VIRTIO_FS_CONFIG_SIZE) {
    throw new CodecError(
      "virtio_fs_config",
      VIRTIO_FS_CONFIG_SIZE,
      `expected at most ${VIRTIO_FS_CONFIG_SIZE} bytes, found ${bytes.length}`,
    );
  }
  const raw = bytes.subarray(0, VIRTIO_FS_TAG_SIZE);
  const nul = raw.indexOf(0);
  let tag: string;
  try {
    tag = new TextDecoder("utf-8", { fatal: true }).decode(
      nul < 0 ? raw : raw.subarray(0, nul),
    );
  } catch {
    throw new CodecError("virtio_fs_config.tag", 0, "tag is not valid UTF-8");
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const config: VirtioFsConfig = { tag, num_request_queues: dv.getUint32(36, true) };
  if (bytes.length >= VIRTIO_FS_CONFIG_SIZE) config.notify_buf_size = dv.getUint32(40, true);
  return config;
}

/** Encodes the config space; the tag must fit 36 bytes of UTF-8. */
export function encodeFsConfig(config: VirtioFsConfig): Uint8Array {
  const tag = new TextEncoder().encode(config.tag);
  if (tag.length > VIRTIO_FS_TAG_SIZE) {
    throw new CodecError(
      "virtio_fs_config.tag",
      0,
      `tag is ${tag.length} bytes of UTF-8, at most ${VIRTIO_FS_TAG_SIZE} fit`,
    );
  }
  const size = config.notify_buf_size === undefined
    ? VIRTIO_FS_CONFIG_SIZE_NO_NOTIFY
    : VIRTIO_FS_CONFIG_SIZE;
  const out = new Uint8Array(size);
  out.set(tag, 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(36, config.num_request_queues >>> 0, true);
  if (config.notify_buf_size !== undefined) dv.setUint32(40, config.notify_buf_size >>> 0, true);
  return out;
}

/** What a virtio-fs virtqueue carries. */
export type FsQueueRole = "hiprio" | "notification" | "request";

/**
 * The role of virtqueue `index`: 0 is the high-priority queue (FORGET,
 * INTERRUPT), 1 is the notification queue when VIRTIO_FS_F_NOTIFICATION was
 * negotiated, the rest are request queues.
 */
export function fsQueueRole(index: number, options: { notification?: boolean } = {}): FsQueueRole {
  if (!Number.isInteger(index) || index < 0) {
    throw new CodecError("virtqueue.index", 0, `expected a non-negative integer, found ${index}`);
  }
  if (index === 0) return "hiprio";
  if (index === 1 && options.notification) return "notification";
  return "request";
}

/** Total virtqueues of a virtio-fs device with `numRequestQueues` request queues. */
export function fsQueueCount(
  numRequestQueues: number,
  options: { notification?: boolean } = {},
): number {
  return 1 + (options.notification ? 1 : 0) + numRequestQueues;
}
