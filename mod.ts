/**
 * ringside: virtio-fs and FUSE at the packet level.
 *
 * Each layer of DESIGN.md is a namespace here: `fuse`, `virtio`, `vhostUser`
 * and `pcapng` are the pure codecs, `virtqueue` the rings over guest memory,
 * `engine` the session, passthrough handler, recorder, replayer and differ,
 * `transports` how messages arrive, `analyzers` what is learned from captures.
 *
 * @example
 * ```ts
 * import { CodecError, fuse } from "./mod.ts";
 * console.log(typeof fuse, CodecError.name);
 * ```
 *
 * @module
 */
export { CodecError } from "./codecs/errors.ts";
export * as fuse from "./codecs/fuse/mod.ts";
export * as virtio from "./codecs/virtio/mod.ts";
export * as vhostUser from "./codecs/vhost_user/mod.ts";
export * as pcapng from "./codecs/pcapng/mod.ts";
export * as virtqueue from "./virtqueue/mod.ts";
export * as sys from "./sys/mod.ts";
export * as transports from "./transports/mod.ts";
export * as engine from "./engine/mod.ts";
export * as analyzers from "./analyzers/mod.ts";
