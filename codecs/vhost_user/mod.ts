/**
 * ringside `codecs/vhost_user`: the vhost-user message codec (header, every
 * front-end and back-end request with its typed payload, replies, fd counts,
 * protocol feature names). See ../shared/DESIGN.md for what this layer owns.
 *
 * @module
 */
export * from "./vhost_user.ts";
export { vhostUserFuzzTarget } from "./fuzz.ts";
