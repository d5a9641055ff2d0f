/**
 * Decoding and encoding of whole FUSE messages: requests (kernel to server),
 * replies (server to kernel) and notifications (server to kernel, unique 0).
 *
 * @example
 * ```ts
 * import { decodeRequest, encodeRequest } from "./codec.ts";
 * const bytes = encodeRequest({
 *   op: "LOOKUP",
 *   header: { unique: 2n, nodeid: 1n, uid: 0, gid: 0, pid: 1 },
 *   body: { name: "hello.txt" },
 * });
 * const req = decodeRequest(bytes);
 * if (req.op === "LOOKUP") console.log(req.body.name);
 * ```
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import {
  FUSE_EXT_GROUPS,
  FUSE_IN_HEADER_SIZE,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_MAX_NR_SECCTX,
  FUSE_OUT_HEADER_SIZE,
  NotifyCode,
  type NotifyName,
  notifyName,
  Opcode,
  type OpName,
  opName,
} from "./constants.ts";
import { align8, atLeast, cstring, cstringEnd, utf8Length, writeCString } from "./_layout.ts";
import { type RequestLayout, REQUESTS } from "./_requests.ts";
import { REPLIES, type ReplyLayout } from "./_replies.ts";
import { NOTIFICATIONS, type NotifyLayout } from "./_notify.ts";
import type {
  FuseCodecOptions,
  FuseExtension,
  FuseInHeader,
  FuseNotification,
  FuseOutHeader,
  FuseReply,
  FuseRequest,
  NotifyBodiesInit,
  ReplyBodiesInit,
  RequestBodiesInit,
} from "./types.ts";

// Rows indexed by opcode, so the hot path does an array load, not a keyed lookup.
const REQUEST_ROWS: (RequestLayout<unknown, unknown> | undefined)[] = [];
const REPLY_ROWS: (ReplyLayout<unknown, unknown> | undefined)[] = [];
for (const [name, code] of Object.entries(Opcode)) {
  if (code < 64) {
    REQUEST_ROWS[code] = REQUESTS[name as OpName] as RequestLayout<unknown, unknown>;
    REPLY_ROWS[code] = REPLIES[name as OpName] as ReplyLayout<unknown, unknown>;
  }
}

function requestRow(opcode: number): RequestLayout<unknown, unknown> | undefined {
  if (opcode < 64) return REQUEST_ROWS[opcode];
  return opcode === Opcode.CUSE_INIT
    ? REQUESTS.CUSE_INIT as RequestLayout<unknown, unknown>
    : undefined;
}

function replyRow(opcode: number): ReplyLayout<unknown, unknown> | undefined {
  if (opcode < 64) return REPLY_ROWS[opcode];
  return opcode === Opcode.CUSE_INIT
    ? REPLIES.CUSE_INIT as ReplyLayout<unknown, unknown>
    : undefined;
}

// A DataView costs more to create than a whole small message costs to decode, so
// the decoders read through views of the whole underlying buffer, kept for the
// last buffer seen (a transport's read buffer, a capture file), at absolute
// offsets (`base` = the message's byteOffset).
let lastBuffer: ArrayBufferLike | null = null;
let lastView: DataView = new DataView(new ArrayBuffer(0));
let lastBytes: Uint8Array = new Uint8Array(0);

/** Points lastView/lastBytes at the whole buffer behind `bytes`. */
function attach(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (buffer === lastBuffer) return;
  lastBuffer = buffer;
  lastView = new DataView(buffer);
  lastBytes = bytes.byteOffset === 0 && bytes.length === buffer.byteLength
    ? bytes
    : new Uint8Array(buffer);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Rethrows `e`, moving a CodecError's offset from the buffer to the message. */
function rebase(e: unknown, base: number): never {
  if (base !== 0 && e instanceof CodecError) {
    throw new CodecError(e.field, e.offset - base, e.reason);
  }
  throw e;
}

/** The `len` a message declares in its first four bytes, or -1 when fewer than 4 bytes are given. */
export function messageLength(bytes: Uint8Array): number {
  if (bytes.length < 4) return -1;
  return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
}

/** Decodes the 40-byte `fuse_in_header` and checks `len` against the buffer. */
export function decodeInHeader(bytes: Uint8Array): FuseInHeader {
  const n = bytes.length;
  if (n < FUSE_IN_HEADER_SIZE) {
    throw new CodecError("fuse_in_header", 0, `expected at least 40 bytes, found ${n}`);
  }
  attach(bytes);
  return readInHeader(lastView, bytes.byteOffset, n);
}

function readInHeader(v: DataView, o: number, n: number): FuseInHeader {
  const len = v.getUint32(o, true);
  if (len !== n) {
    throw new CodecError("fuse_in_header.len", 0, `says ${len} bytes, the buffer holds ${n}`);
  }
  return {
    len,
    opcode: v.getUint32(o + 4, true),
    unique: v.getBigUint64(o + 8, true),
    nodeid: v.getBigUint64(o + 16, true),
    uid: v.getUint32(o + 24, true),
    gid: v.getUint32(o + 28, true),
    pid: v.getUint32(o + 32, true),
    total_extlen: v.getUint16(o + 36, true),
  };
}

/**
 * Decodes one request message (fuse_in_header, body, extensions). The message
 * must be exactly `len` bytes. An unknown opcode gives `op: "UNKNOWN"` with the
 * raw body; malformed input throws a {@linkcode CodecError}.
 */
export function decodeRequest(bytes: Uint8Array, options?: FuseCodecOptions): FuseRequest {
  const n = bytes.length;
  if (n < FUSE_IN_HEADER_SIZE) {
    throw new CodecError("fuse_in_header", 0, `expected at least 40 bytes, found ${n}`);
  }
  attach(bytes);
  const v = lastView;
  const b = lastBytes;
  const base = bytes.byteOffset;
  const header = readInHeader(v, base, n);
  let end = base + n;
  let extensions: FuseExtension[] | undefined = undefined;
  if (header.total_extlen !== 0) {
    const extBytes = header.total_extlen * 8;
    if (extBytes > n - FUSE_IN_HEADER_SIZE) {
      throw new CodecError(
        "fuse_in_header.total_extlen",
        36,
        `${extBytes} bytes of extensions do not fit in a ${n - FUSE_IN_HEADER_SIZE}-byte body`,
      );
    }
    end -= extBytes;
    try {
      extensions = decodeExtensions(v, b, end, base + n);
    } catch (e) {
      rebase(e, base);
    }
  }
  const row = requestRow(header.opcode);
  if (row === undefined) {
    return {
      op: "UNKNOWN",
      header,
      body: { raw: b.subarray(base + FUSE_IN_HEADER_SIZE, end) },
      extensions,
    };
  }
  const minor = options?.minor ?? FUSE_KERNEL_MINOR_VERSION;
  const ext = options?.setxattrExt ?? false;
  let body: unknown;
  try {
    body = row.decode(v, b, base + FUSE_IN_HEADER_SIZE, end, minor, ext);
  } catch (e) {
    rebase(e, base);
  }
  return { op: opName(header.opcode), header, body, extensions } as FuseRequest;
}

function decodeExtensions(v: DataView, b: Uint8Array, start: number, end: number): FuseExtension[] {
  const out: FuseExtension[] = [];
  let p = start;
  while (p < end) {
    atLeast(end - p, 8, "fuse_ext_header", p);
    const size = v.getUint32(p, true);
    const type = v.getUint32(p + 4, true);
    if (size < 8 || size > end - p || size % 8 !== 0) {
      throw new CodecError(
        "fuse_ext_header.size",
        p,
        `${size} is not a multiple of 8 between 8 and the ${end - p} bytes left`,
      );
    }
    const stop = p + size;
    if (type <= FUSE_MAX_NR_SECCTX) {
      // fuse_secctx_header {size, nr_secctx}, then per context: fuse_secctx {size, padding},
      // the NUL-terminated name, the context bytes, padded to 8
      const contexts: { name: string; context: Uint8Array }[] = [];
      let q = p + 8;
      for (let i = 0; i < type; i++) {
        atLeast(stop - q, 8, "fuse_secctx", q);
        const ctxlen = v.getUint32(q, true);
        const name = cstring(b, q + 8, stop, "fuse_secctx.name");
        const at = cstringEnd;
        if (ctxlen > stop - at) {
          throw new CodecError(
            "fuse_secctx.size",
            q,
            `${ctxlen} bytes of context overrun the extension (${stop - at} left)`,
          );
        }
        contexts.push({ name, context: b.subarray(at, at + ctxlen) });
        q = p + align8(at + ctxlen - p);
      }
      out.push({ kind: "security_context", type, contexts });
    } else if (type === FUSE_EXT_GROUPS) {
      atLeast(size - 8, 4, "fuse_supp_groups", p + 8);
      const nr = v.getUint32(p + 8, true);
      if (nr > (size - 12) / 4) {
        throw new CodecError(
          "fuse_supp_groups.nr_groups",
          p + 8,
          `${nr} groups do not fit in ${size - 12} bytes`,
        );
      }
      const groups = new Array<number>(nr);
      for (let i = 0; i < nr; i++) groups[i] = v.getUint32(p + 12 + 4 * i, true);
      out.push({ kind: "supp_groups", type: FUSE_EXT_GROUPS, groups });
    } else {
      out.push({ kind: "unknown", type, raw: b.subarray(p + 8, stop) });
    }
    p = stop;
  }
  return out;
}

function extensionsSize(exts: FuseExtension[]): number {
  let n = 0;
  for (const e of exts) {
    if (e.kind === "security_context") {
      let s = 8;
      for (const c of e.contexts) s += align8(8 + utf8Length(c.name) + 1 + c.context.length);
      n += s;
    } else if (e.kind === "supp_groups") n += align8(12 + 4 * e.groups.length);
    else n += 8 + align8(e.raw.length);
  }
  return n;
}

function encodeExtensions(v: DataView, b: Uint8Array, o: number, exts: FuseExtension[]): void {
  let p = o;
  for (const e of exts) {
    if (e.kind === "security_context") {
      let q = p + 8;
      for (const c of e.contexts) {
        v.setUint32(q, c.context.length, true);
        const at = writeCString(b, q + 8, c.name);
        b.set(c.context, at);
        q = p + align8(at + c.context.length - p);
      }
      v.setUint32(p, q - p, true);
      v.setUint32(p + 4, e.contexts.length, true);
      p = q;
    } else if (e.kind === "supp_groups") {
      const size = align8(12 + 4 * e.groups.length);
      v.setUint32(p, size, true);
      v.setUint32(p + 4, FUSE_EXT_GROUPS, true);
      v.setUint32(p + 8, e.groups.length, true);
      for (let i = 0; i < e.groups.length; i++) v.setUint32(p + 12 + 4 * i, e.groups[i], true);
      p += size;
    } else {
      const size = 8 + align8(e.raw.length);
      v.setUint32(p, size, true);
      v.setUint32(p + 4, e.type, true);
      b.set(e.raw, p + 8);
      p += size;
    }
  }
}

/** The header fields a caller gives to {@linkcode encodeRequest}; `len`, `opcode` and `total_extlen` are computed. */
export interface FuseInHeaderInit {
  unique: bigint;
  nodeid?: bigint;
  uid?: number;
  gid?: number;
  pid?: number;
  /** Only used for `op: "UNKNOWN"`. */
  opcode?: number;
  len?: number;
  total_extlen?: number;
}

/** A request to encode: like {@linkcode FuseRequest}, with a partial header. */
export type FuseRequestInit =
  | {
    [K in OpName]: {
      op: K;
      header: FuseInHeaderInit;
      body: RequestBodiesInit[K];
      extensions?: FuseExtension[];
    };
  }[OpName]
  | {
    op: "UNKNOWN";
    header: FuseInHeaderInit & { opcode: number };
    body: { raw: Uint8Array };
    extensions?: FuseExtension[];
  };

/**
 * Encodes a request at the given minor; `header.len`, `header.opcode` (from
 * `op`) and `header.total_extlen` (from `extensions`) are computed.
 */
export function encodeRequest(msg: FuseRequestInit, options?: FuseCodecOptions): Uint8Array {
  const minor = options?.minor ?? FUSE_KERNEL_MINOR_VERSION;
  const ext = options?.setxattrExt ?? false;
  let opcode: number;
  let bodySize: number;
  let row: RequestLayout<unknown, unknown> | undefined;
  if (msg.op === "UNKNOWN") {
    opcode = msg.header.opcode;
    bodySize = msg.body.raw.length;
  } else {
    opcode = Opcode[msg.op];
    row = requestRow(opcode)!;
    bodySize = row.size(msg.body, minor, ext);
  }
  const extSize = msg.extensions === undefined ? 0 : extensionsSize(msg.extensions);
  const len = FUSE_IN_HEADER_SIZE + bodySize + extSize;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  const h = msg.header;
  v.setUint32(0, len, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, h.unique, true);
  v.setBigUint64(16, h.nodeid ?? 0n, true);
  v.setUint32(24, h.uid ?? 0, true);
  v.setUint32(28, h.gid ?? 0, true);
  v.setUint32(32, h.pid ?? 0, true);
  v.setUint16(36, extSize / 8, true);
  if (row === undefined) b.set((msg.body as { raw: Uint8Array }).raw, FUSE_IN_HEADER_SIZE);
  else row.encode(v, b, FUSE_IN_HEADER_SIZE, msg.body, minor, ext);
  if (msg.extensions !== undefined) {
    encodeExtensions(v, b, FUSE_IN_HEADER_SIZE + bodySize, msg.extensions);
  }
  return b;
}

/** Options for {@linkcode decodeReply}: the protocol minor and what the reply answers. */
export interface DecodeReplyOptions extends FuseCodecOptions {
  /** Opcode of the request this reply answers (number or name). */
  opcode?: number | OpName;
  /** The request this reply answers: gives the opcode and, for GETXATTR/LISTXATTR, the asked size. */
  request?: FuseRequest;
}

function readOutHeader(v: DataView, o: number, n: number): FuseOutHeader {
  if (n < FUSE_OUT_HEADER_SIZE) {
    throw new CodecError("fuse_out_header", 0, `expected at least 16 bytes, found ${n}`);
  }
  const len = v.getUint32(o, true);
  if (len !== n) {
    throw new CodecError("fuse_out_header.len", 0, `says ${len} bytes, the buffer holds ${n}`);
  }
  return { len, error: v.getInt32(o + 4, true), unique: v.getBigUint64(o + 8, true) };
}

/** Decodes the 16-byte `fuse_out_header` and checks `len` against the buffer. */
export function decodeOutHeader(bytes: Uint8Array): FuseOutHeader {
  return readOutHeader(view(bytes), 0, bytes.length);
}

/**
 * Decodes one reply. Its body can only be read knowing the request: pass
 * `request` (or `opcode`); without either the reply is `op: "UNKNOWN"` with
 * the raw body. A reply with a non-zero `error` has `body: null`. A message
 * with unique 0 is a notification: use {@linkcode decodeNotification}.
 */
export function decodeReply(bytes: Uint8Array, options?: DecodeReplyOptions): FuseReply {
  const n = bytes.length;
  attach(bytes);
  const v = lastView;
  const b = lastBytes;
  const base = bytes.byteOffset;
  const header = readOutHeader(v, base, n);
  if (header.unique === 0n) {
    throw new CodecError(
      "fuse_out_header.unique",
      8,
      "0 marks a notification, not a reply (decode it with decodeNotification)",
    );
  }
  if (header.error > 0 || header.error <= -512) {
    throw new CodecError(
      "fuse_out_header.error",
      4,
      `${header.error} is not 0 or a negative errno above -512`,
    );
  }
  const request = options?.request;
  let opcode: number | undefined = request?.header.opcode;
  if (opcode === undefined) {
    const o = options?.opcode;
    opcode = typeof o === "string" ? Opcode[o] : o;
  }
  const row = opcode === undefined ? undefined : replyRow(opcode);
  const op = row === undefined ? "UNKNOWN" : opName(opcode!)!;
  if (header.error !== 0) {
    if (n !== FUSE_OUT_HEADER_SIZE) {
      throw new CodecError(
        "fuse_out_header.len",
        0,
        `an error reply carries no body, found ${n - FUSE_OUT_HEADER_SIZE} bytes`,
      );
    }
    return { op, header, body: null } as FuseReply;
  }
  if (row === undefined) {
    return { op: "UNKNOWN", header, body: { raw: bytes.subarray(FUSE_OUT_HEADER_SIZE) } };
  }
  const minor = options?.minor ?? FUSE_KERNEL_MINOR_VERSION;
  let body: unknown;
  try {
    body = row.decode(v, b, base + FUSE_OUT_HEADER_SIZE, base + n, minor, request?.body);
  } catch (e) {
    rebase(e, base);
  }
  return { op, header, body } as FuseReply;
}

/** The header fields a caller gives to {@linkcode encodeReply}; `len` is computed. */
export interface FuseOutHeaderInit {
  unique: bigint;
  /** 0 (default) or a negative errno. */
  error?: number;
  len?: number;
}

/** A reply to encode: like {@linkcode FuseReply}, with a partial header. */
export type FuseReplyInit =
  | {
    [K in OpName]: { op: K; header: FuseOutHeaderInit; body: ReplyBodiesInit[K] | null };
  }[OpName]
  | { op: "UNKNOWN"; header: FuseOutHeaderInit; body: { raw: Uint8Array } | null };

/**
 * Encodes a reply at the given minor. A non-zero `header.error` gives a
 * header-only reply (the body is ignored); `header.len` is computed.
 */
export function encodeReply(msg: FuseReplyInit, options?: FuseCodecOptions): Uint8Array {
  const error = msg.header.error ?? 0;
  if (error !== 0 || msg.body === null) {
    return encodeErrorReply(msg.header.unique, -error);
  }
  const minor = options?.minor ?? FUSE_KERNEL_MINOR_VERSION;
  let bodySize: number;
  let row: ReplyLayout<unknown, unknown> | undefined;
  if (msg.op === "UNKNOWN") {
    bodySize = (msg.body as { raw: Uint8Array }).raw.length;
  } else {
    row = replyRow(Opcode[msg.op])!;
    bodySize = row.size(msg.body, minor);
  }
  const len = FUSE_OUT_HEADER_SIZE + bodySize;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, len, true);
  v.setBigUint64(8, msg.header.unique, true);
  if (row === undefined) b.set((msg.body as { raw: Uint8Array }).raw, FUSE_OUT_HEADER_SIZE);
  else row.encode(v, b, FUSE_OUT_HEADER_SIZE, msg.body, minor);
  return b;
}

/**
 * Encodes a header-only error reply. `errno` is the positive errno (2 for
 * ENOENT); it travels negated. 0 gives a success reply with no body.
 */
export function encodeErrorReply(unique: bigint, errno: number): Uint8Array {
  const b = new Uint8Array(FUSE_OUT_HEADER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, FUSE_OUT_HEADER_SIZE, true);
  v.setInt32(4, errno === 0 ? 0 : -Math.abs(errno), true);
  v.setBigUint64(8, unique, true);
  return b;
}

const NOTIFY_ROWS: (NotifyLayout<unknown, unknown> | undefined)[] = [];
for (const [name, code] of Object.entries(NotifyCode)) {
  NOTIFY_ROWS[code] = NOTIFICATIONS[name as NotifyName] as NotifyLayout<unknown, unknown>;
}

/**
 * Decodes one notification (server to kernel: unique 0, `error` = notify
 * code). An unknown code gives `op: "NOTIFY_UNKNOWN"` with the raw body.
 */
export function decodeNotification(bytes: Uint8Array): FuseNotification {
  const n = bytes.length;
  const v = view(bytes);
  const header = readOutHeader(v, 0, n);
  if (header.unique !== 0n) {
    throw new CodecError(
      "fuse_out_header.unique",
      8,
      `a notification has unique 0, found ${header.unique}`,
    );
  }
  const name = notifyName(header.error);
  if (name === undefined) {
    return { op: "NOTIFY_UNKNOWN", header, body: { raw: bytes.subarray(FUSE_OUT_HEADER_SIZE) } };
  }
  const body = NOTIFY_ROWS[header.error]!.decode(v, bytes, FUSE_OUT_HEADER_SIZE, n);
  return { op: `NOTIFY_${name}`, header, body } as FuseNotification;
}

/** A notification to encode: its name and body (`header.len`, `unique` and `error` are computed). */
export type FuseNotificationInit =
  | { [K in NotifyName]: { op: `NOTIFY_${K}`; body: NotifyBodiesInit[K] } }[NotifyName]
  | { op: "NOTIFY_UNKNOWN"; header: { error: number }; body: { raw: Uint8Array } };

/** Encodes a notification (unique 0, error = the notify code). */
export function encodeNotification(msg: FuseNotificationInit): Uint8Array {
  let code: number;
  let size: number;
  let row: NotifyLayout<unknown, unknown> | undefined;
  if (msg.op === "NOTIFY_UNKNOWN") {
    code = msg.header.error;
    size = msg.body.raw.length;
  } else {
    code = NotifyCode[msg.op.slice(7) as NotifyName];
    row = NOTIFY_ROWS[code]!;
    size = row.size(msg.body);
  }
  const len = FUSE_OUT_HEADER_SIZE + size;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, len, true);
  v.setInt32(4, code, true);
  if (row === undefined) b.set((msg.body as { raw: Uint8Array }).raw, FUSE_OUT_HEADER_SIZE);
  else row.encode(v, b, FUSE_OUT_HEADER_SIZE, msg.body);
  return b;
}
