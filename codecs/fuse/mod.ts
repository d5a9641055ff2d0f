/**
 * The FUSE codec: every opcode of the Linux FUSE protocol through 7.45, as
 * typed messages whose field names are those of `include/uapi/linux/fuse.h`.
 *
 * - {@linkcode decodeRequest} / {@linkcode encodeRequest}: kernel to server.
 * - {@linkcode decodeReply} / {@linkcode encodeReply} / {@linkcode encodeErrorReply}:
 *   server to kernel; a reply is decoded knowing its request.
 * - {@linkcode decodeNotification} / {@linkcode encodeNotification}: unsolicited
 *   server messages (unique 0).
 * - {@linkcode FuseStream}: pairs both directions of a session by `unique`.
 * - Names are bytes ({@linkcode FuseName}, shown with {@linkcode nameText});
 *   directory listings decode their entries on access ({@linkcode DirentList}).
 *
 * Sizes that changed over the protocol's life follow the `minor` option.
 * Malformed input throws a {@linkcode CodecError} naming the field and offset.
 *
 * @example
 * ```ts
 * import { decodeReply, encodeReply, Opcode } from "./mod.ts";
 * const bytes = encodeReply({
 *   op: "WRITE",
 *   header: { unique: 8n },
 *   body: { size: 4096, padding: 0 },
 * });
 * const r = decodeReply(bytes, { opcode: Opcode.WRITE });
 * if (r.op === "WRITE" && r.body) console.log(r.body.size); // 4096
 * ```
 *
 * @module
 */
export * from "./constants.ts";
export type * from "./types.ts";
export * from "./codec.ts";
export * from "./stream.ts";
export * from "./names.ts";
export * from "./dirents.ts";
export { CodecError } from "../errors.ts";
export * from "./format.ts";
