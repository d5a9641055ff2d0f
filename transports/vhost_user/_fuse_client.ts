/**
 * Private test and bench helper: FUSE requests over a {@linkcode FrontendQueue}
 * (encode with the FUSE codec, send through the ring, decode the reply).
 *
 * @module
 */
import {
  decodeReply,
  encodeRequest,
  type FuseReplyOf,
  type OpName,
  type RequestBodiesInit,
} from "../../codecs/fuse/mod.ts";
import type { FrontendQueue } from "./frontend.ts";

let nextUnique = 1n;

/** Encodes a request (unique from a process-wide counter). */
export function fuseRequest<K extends OpName>(
  op: K,
  nodeid: bigint,
  body: RequestBodiesInit[K],
): Uint8Array {
  return encodeRequest(
    { op, header: { unique: nextUnique++, nodeid, uid: 0, gid: 0, pid: 1 }, body } as never,
  );
}

/**
 * Sends one request on `queue` and decodes the reply (null body for no
 * reply); `replySize` is the writable space, or one writable buffer per size.
 */
export async function fuseCall<K extends OpName>(
  queue: FrontendQueue,
  op: K,
  nodeid: bigint,
  body: RequestBodiesInit[K],
  replySize: number | readonly number[] = 8192,
): Promise<{ len: number; reply: FuseReplyOf<K> | null }> {
  const req = fuseRequest(op, nodeid, body);
  const used = await queue.roundTripAsync(req, replySize);
  if (used.len === 0) return { len: 0, reply: null };
  const reply = decodeReply(used.written, { opcode: op }) as FuseReplyOf<K>;
  return { len: used.len, reply };
}

/** The INIT body a 7.45 client sends (max_readahead 128 KiB, no flags). */
export const INIT_BODY = { major: 7, minor: 45, max_readahead: 131072, flags: 0, flags2: 0 };
