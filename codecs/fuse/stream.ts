/**
 * A stream decoder for a FUSE session seen in both directions: it pairs each
 * reply to its request by `unique`, decodes the reply by the request's opcode,
 * learns the negotiated minor and INIT flags from the INIT exchange, and never
 * stops on one bad message (it reports it as an `invalid` event).
 *
 * @example
 * ```ts
 * import { FuseStream } from "./stream.ts";
 * import { encodeErrorReply, encodeRequest } from "./codec.ts";
 * const s = new FuseStream();
 * s.request(encodeRequest({ op: "LOOKUP", header: { unique: 4n, nodeid: 1n }, body: { name: "x" } }));
 * const ev = s.reply(encodeErrorReply(4n, 2));
 * if (ev.kind === "reply") console.log(ev.message.op, ev.message.header.error); // LOOKUP -2
 * ```
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import {
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_UNIQUE_RESEND,
  InitFlag,
  initFlagsWord,
  opcodeHasNoReply,
} from "./constants.ts";
import { decodeNotification, decodeReply, decodeRequest } from "./codec.ts";
import type { FuseNotification, FuseReply, FuseRequest } from "./types.ts";

/** Which way a message travels: `request` is kernel (client) to server, `reply` server to kernel. */
export type FuseDirection = "request" | "reply";

/** What {@linkcode FuseStream} makes of one message. */
export type FuseStreamEvent =
  | { kind: "request"; message: FuseRequest }
  | {
    kind: "reply";
    message: FuseReply;
    /** The request it answers, or undefined when no pending request has its unique. */
    request: FuseRequest | undefined;
    /** The request had been interrupted (an EINTR or EAGAIN answer is then expected). */
    interrupted: boolean;
  }
  | { kind: "notification"; message: FuseNotification }
  | { kind: "invalid"; direction: FuseDirection; error: CodecError; bytes: Uint8Array };

/** Options for {@linkcode FuseStream}. */
export interface FuseStreamOptions {
  /** Minor to assume until an INIT exchange is seen (default 45). */
  minor?: number;
  /** Negotiated INIT flags to assume until an INIT exchange is seen (default 0). */
  initFlags?: bigint;
}

/** Pairs and decodes the messages of one FUSE session. */
export class FuseStream {
  /** The negotiated minor version (from INIT, or the option until then). */
  minor: number;
  /** The negotiated INIT flags as one 64-bit word (flags | flags2 << 32). */
  initFlags: bigint;
  /** Whether FUSE_SETXATTR_EXT was negotiated. */
  setxattrExt: boolean;
  #pending = new Map<bigint, FuseRequest>();
  /** interrupted request's unique → the INTERRUPT request's unique */
  #interrupts = new Map<bigint, bigint>();

  /** Starts a stream that assumes `options.minor` until it sees INIT. */
  constructor(options?: FuseStreamOptions) {
    this.minor = options?.minor ?? FUSE_KERNEL_MINOR_VERSION;
    this.initFlags = options?.initFlags ?? 0n;
    this.setxattrExt = (this.initFlags & InitFlag.SETXATTR_EXT) !== 0n;
  }

  /** Number of requests still waiting for a reply. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** The requests still waiting for a reply, oldest first. */
  pendingRequests(): FuseRequest[] {
    return [...this.#pending.values()];
  }

  /** Feeds one message travelling in `direction`. */
  push(direction: FuseDirection, bytes: Uint8Array): FuseStreamEvent {
    return direction === "request" ? this.request(bytes) : this.reply(bytes);
  }

  /** Feeds one request (kernel to server). */
  request(bytes: Uint8Array): FuseStreamEvent {
    let message: FuseRequest;
    try {
      message = decodeRequest(bytes, { minor: this.minor, setxattrExt: this.setxattrExt });
    } catch (e) {
      if (e instanceof CodecError) {
        return { kind: "invalid", direction: "request", error: e, bytes };
      }
      throw e;
    }
    const opcode = message.header.opcode;
    if (!opcodeHasNoReply(opcode)) {
      this.#pending.set(message.header.unique, message);
      if (message.op === "INTERRUPT") {
        this.#interrupts.set(message.body.unique, message.header.unique);
      }
    }
    return { kind: "request", message };
  }

  /** Feeds one reply or notification (server to kernel). */
  reply(bytes: Uint8Array): FuseStreamEvent {
    // unique 0 marks a notification
    let unique = -1n;
    if (bytes.length >= 16) {
      unique = new DataView(bytes.buffer, bytes.byteOffset, 16).getBigUint64(8, true);
    }
    try {
      if (unique === 0n) return { kind: "notification", message: decodeNotification(bytes) };
      let request = unique < 0n ? undefined : this.#pending.get(unique);
      if (request === undefined && unique > 0n && (unique & FUSE_UNIQUE_RESEND) !== 0n) {
        request = this.#pending.get(unique & ~FUSE_UNIQUE_RESEND);
      }
      const message = decodeReply(bytes, { minor: this.minor, request });
      let interrupted = false;
      if (request !== undefined) {
        const u = request.header.unique;
        this.#pending.delete(u);
        const intr = this.#interrupts.get(u);
        if (intr !== undefined) {
          // the interrupted request is answered: its INTERRUPT needs no reply any more
          interrupted = true;
          this.#interrupts.delete(u);
          this.#pending.delete(intr);
        }
        if (request.op === "INTERRUPT") this.#interrupts.delete(request.body.unique);
        if (request.op === "INIT" && message.op === "INIT" && message.body !== null) {
          this.#learnInit(request, message);
        }
      }
      return { kind: "reply", message, request, interrupted };
    } catch (e) {
      if (e instanceof CodecError) return { kind: "invalid", direction: "reply", error: e, bytes };
      throw e;
    }
  }

  #learnInit(request: FuseRequest & { op: "INIT" }, reply: FuseReply & { op: "INIT" }): void {
    const out = reply.body!;
    if (out.major !== 7) return; // a major renegotiation: a new INIT follows
    const inp = request.body;
    this.minor = Math.min(inp.minor, out.minor);
    const ext = (f: number) => (f & Number(InitFlag.INIT_EXT)) !== 0;
    const offered = initFlagsWord(inp.flags, ext(inp.flags) ? inp.flags2 : 0);
    const accepted = initFlagsWord(out.flags, ext(out.flags) ? out.flags2 : 0);
    this.initFlags = offered & accepted;
    this.setxattrExt = (this.initFlags & InitFlag.SETXATTR_EXT) !== 0n;
  }
}
