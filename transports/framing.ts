/**
 * The few header fields a transport needs to move whole FUSE messages without
 * decoding them: `len` and `unique` of fuse_in_header (40 bytes) and
 * fuse_out_header (16 bytes), and a bare reply header for requests that get no
 * body (include/uapi/linux/fuse.h).
 *
 * @module
 */

/** Size of fuse_in_header: len u32, opcode u32, unique u64, nodeid u64, uid, gid, pid u32, total_extlen u16, padding u16. */
export const FUSE_IN_HEADER_SIZE = 40;
/** Size of fuse_out_header: len u32, error i32, unique u64. */
export const FUSE_OUT_HEADER_SIZE = 16;

/** FUSE_FORGET: has no reply in the protocol. */
export const FUSE_FORGET = 2;
/** FUSE_INTERRUPT: answered (if at all) by the interrupted request's reply. */
export const FUSE_INTERRUPT = 36;
/** FUSE_BATCH_FORGET: has no reply in the protocol. */
export const FUSE_BATCH_FORGET = 42;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `len` of a message header (in or out: it is the first u32 of both). */
export function messageLength(header: Uint8Array): number {
  return view(header).getUint32(0, true);
}

/** `opcode` of a fuse_in_header. */
export function requestOpcode(header: Uint8Array): number {
  return view(header).getUint32(4, true);
}

/** `unique` of a fuse_in_header. */
export function requestUnique(header: Uint8Array): bigint {
  return view(header).getBigUint64(8, true);
}

/** `unique` of a fuse_out_header. */
export function replyUnique(header: Uint8Array): bigint {
  return view(header).getBigUint64(8, true);
}

/** `error` of a fuse_out_header (0 or a negative errno). */
export function replyError(header: Uint8Array): number {
  return view(header).getInt32(4, true);
}

/**
 * A reply that is only a fuse_out_header: `len` 16, `error` (0 or a negative
 * errno), `unique`.
 */
export function bareReply(unique: bigint, error = 0): Uint8Array {
  const out = new Uint8Array(FUSE_OUT_HEADER_SIZE);
  const v = view(out);
  v.setUint32(0, FUSE_OUT_HEADER_SIZE, true);
  v.setInt32(4, error, true);
  v.setBigUint64(8, unique, true);
  return out;
}
