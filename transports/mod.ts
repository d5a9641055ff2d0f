/**
 * ringside `transports`: channels that carry whole FUSE messages to a
 * {@linkcode FuseServer}: the host kernel's /dev/fuse (a mount served by a
 * reader Worker), a Renode-style Unix socket, and an in-process channel.
 * See ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export {
  type DevFuseEnd,
  type DevFuseMount,
  type DevFuseOptions,
  mountDevFuse,
} from "./dev_fuse.ts";
export {
  type ForgetReply,
  listenUnix,
  serveConnection,
  type ServerSource,
  type UnixListenOptions,
  type UnixSocketServer,
} from "./unix_socket.ts";
export {
  connectInProcess,
  type Direction,
  type InProcessChannel,
  type InProcessOptions,
  type Observer,
} from "./in_process.ts";
export {
  closeServer,
  instantiateServer,
  type PassthroughOptions,
  passthroughSpec,
  type ServerSpec,
} from "./server_spec.ts";
export {
  bareReply,
  FUSE_IN_HEADER_SIZE,
  FUSE_OUT_HEADER_SIZE,
  messageLength,
  replyError,
  replyUnique,
  requestOpcode,
  requestUnique,
} from "./framing.ts";
export * from "./vhost_user/mod.ts";
