/**
 * The in-process transport: a client and a {@linkcode FuseServer} in the same
 * thread, messages passed as byte arrays. Replay and tests use it; observers
 * see every message in both directions exactly as a wire transport would carry
 * it.
 *
 * @module
 */
import type { FuseServer } from "../engine/types.ts";
import {
  FUSE_IN_HEADER_SIZE,
  FUSE_OUT_HEADER_SIZE,
  messageLength,
  replyUnique,
  requestUnique,
} from "./framing.ts";

/** Direction of a message on a channel. */
export type Direction = "request" | "reply";

/** Sees every message on a channel, in order. */
export type Observer = (direction: Direction, message: Uint8Array) => void;

/** Options for {@linkcode connectInProcess}. */
export interface InProcessOptions {
  /** Called for every request before the server sees it and every reply before the client does. */
  observers?: Observer[];
}

/** A client's end of an in-process channel. */
export interface InProcessChannel {
  /**
   * Sends one complete request message; resolves to the server's complete
   * reply, or `null` when the request has none (FORGET). Throws when the
   * request or the reply is not a well-framed message, or when the reply
   * answers another `unique`.
   */
  request(message: Uint8Array): Promise<Uint8Array | null>;
  /** Requests sent so far. */
  readonly requests: number;
}

/**
 * Connects a client to `server` in the calling thread.
 *
 * @example
 * ```ts
 * const channel = connectInProcess(server);
 * const reply = await channel.request(initRequestBytes);
 * ```
 */
export function connectInProcess(
  server: FuseServer,
  options: InProcessOptions = {},
): InProcessChannel {
  const observers = options.observers ?? [];
  let requests = 0;
  return {
    get requests() {
      return requests;
    },
    async request(message: Uint8Array): Promise<Uint8Array | null> {
      if (message.length < FUSE_IN_HEADER_SIZE || messageLength(message) !== message.length) {
        throw new Error(
          `request is ${message.length} bytes but its fuse_in_header.len says ${
            message.length >= 4 ? messageLength(message) : "nothing"
          }`,
        );
      }
      requests++;
      for (const o of observers) o("request", message);
      const reply = await server.handle(message);
      if (reply === null) return null;
      if (reply.length < FUSE_OUT_HEADER_SIZE || messageLength(reply) !== reply.length) {
        throw new Error(`reply is ${reply.length} bytes but its fuse_out_header.len disagrees`);
      }
      const unique = requestUnique(message);
      if (replyUnique(reply) !== unique) {
        throw new Error(`reply unique ${replyUnique(reply)} answers request unique ${unique}`);
      }
      for (const o of observers) o("reply", reply);
      return reply;
    },
  };
}
