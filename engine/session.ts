/**
 * The FUSE session around the passthrough handler: decodes each request,
 * negotiates INIT, answers DESTROY, FORGET and INTERRUPT itself, runs the
 * handler with the request's credentials, encodes the reply at the
 * negotiated minor, and pairs the requests that wait (SETLKW) with their
 * later replies. It implements {@linkcode FuseServer}: the transports hand it
 * raw messages.
 *
 * @module
 */
import {
  decodeInHeader,
  decodeRequest,
  encodeErrorReply,
  encodeReply,
  type FuseCodecOptions,
  type FuseInitOut,
  type FuseReplyInit,
  type FuseRequest,
  InitFlag,
  initFlagsWord,
  Opcode,
  splitInitFlags,
} from "../codecs/fuse/mod.ts";
import { CodecError } from "../codecs/errors.ts";
import { ThreadCredentials } from "../sys/creds.ts";
import { SysError } from "../sys/libc.ts";
import type { IoVecList } from "../sys/fs.ts";
import type { BackingFiles, FuseServer } from "./types.ts";
import { Passthrough, type PassthroughOptions, type RequestContext } from "./passthrough.ts";
import { Errno } from "./tables.ts";

/** Newest protocol minor the engine serves. */
export const ENGINE_MINOR = 45;
/** Largest WRITE (and READ) payload the engine accepts (`max_write`). */
export const ENGINE_MAX_WRITE = 1 << 20;

const BARE_REPLY_SIZE = 16; // fuse_out_header
const WRITE_REPLY_SIZE = 24; // fuse_out_header + fuse_write_out
const ATTR_REPLY_SIZE = 120; // fuse_out_header + fuse_attr_out (7.9+)
const ENTRY_REPLY_SIZE = 144; // fuse_out_header + fuse_entry_out (7.9+)
const GETATTR_REQUEST_SIZE = 56; // fuse_in_header + fuse_getattr_in
const DOT = 0x2e;
/** fuse_in_header plus fuse_read_in or fuse_write_in (40 bytes each from 7.9). */
const VECTORED_HEAD = 80;

/** Something that watches every exchange (the recorder, statistics). */
export type SessionObserver = (request: Uint8Array, reply: Uint8Array | null) => void;

/** Options of {@linkcode createPassthrough}: the handler's options plus session hooks. */
export interface PassthroughServerOptions extends PassthroughOptions {
  /** Called with each request and its reply (null when there is none), after the reply is built. */
  observer?: SessionObserver;
  /** Where unexpected failures are reported (default `console.error`). */
  log?: (message: string) => void;
}

/** What INIT settled. */
export interface Negotiated {
  /** Protocol minor both sides speak. */
  minor: number;
  /** INIT flags granted, as one 64-bit word (`flags | flags2 << 32`). */
  flags: bigint;
}

interface Waiter {
  cancel(errno: number): void;
}

/**
 * A FUSE server over a host directory: one session, state in the calling
 * thread, synchronous FFI on the hot path.
 */
export class PassthroughServer implements FuseServer {
  /** The handler (inode and handle tables). */
  readonly handler: Passthrough;
  #codec: FuseCodecOptions = { minor: ENGINE_MINOR, setxattrExt: false };
  #negotiated: Negotiated | null = null;
  #waiting = new Map<bigint, Waiter>();
  readonly #observer: SessionObserver | undefined;
  readonly #log: (message: string) => void;
  #closed = false;
  /**
   * See {@linkcode FuseServer.repliesConsumedAtOnce}; READ and READDIR
   * replies are then reused (without an observer).
   */
  repliesConsumedAtOnce = false;
  readonly #bareReply = new Uint8Array(BARE_REPLY_SIZE);
  readonly #bareView = new DataView(this.#bareReply.buffer);
  readonly #writeReply = new Uint8Array(WRITE_REPLY_SIZE);
  readonly #writeView = new DataView(this.#writeReply.buffer);
  readonly #attrReply = new Uint8Array(ATTR_REPLY_SIZE);
  readonly #attrView = new DataView(this.#attrReply.buffer);
  readonly #entryReply = new Uint8Array(ENTRY_REPLY_SIZE);
  readonly #entryView = new DataView(this.#entryReply.buffer);

  /** Opens `sharedDir` as the root of the tree this server serves. */
  constructor(sharedDir: string, options: PassthroughServerOptions = {}) {
    const { observer, log, ...handlerOptions } = options;
    this.handler = new Passthrough(sharedDir, handlerOptions, new ThreadCredentials());
    this.#observer = observer;
    this.#log = log ?? ((m) => console.error(m));
  }

  /** See {@linkcode FuseServer.backingFiles}: lets INIT negotiate FUSE passthrough. */
  get backingFiles(): BackingFiles | undefined {
    return this.handler.backingFiles ?? undefined;
  }

  set backingFiles(files: BackingFiles | undefined) {
    this.handler.backingFiles = files ?? null;
  }

  /** What INIT settled, or null before INIT (and after DESTROY). */
  get negotiated(): Negotiated | null {
    return this.#negotiated;
  }

  /** Requests waiting for an answer (blocked SETLKW). */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Answers one request message (see {@linkcode FuseServer.handle}). */
  handle(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    const reply = this.#handle(request);
    if (this.#observer === undefined) return reply;
    if (reply instanceof Promise) {
      return reply.then((r) => {
        this.#observe(request, r);
        return r;
      });
    }
    this.#observe(request, reply);
    return reply;
  }

  #observe(request: Uint8Array, reply: Uint8Array | null): void {
    try {
      this.#observer!(request, reply);
    } catch (e) {
      this.#log(`ringside engine: observer failed: ${e instanceof Error ? e.message : e}`);
    }
  }

  #handle(bytes: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    if (this.#closed) return null;
    // descriptors read from here on belong to this request (see InodeTable)
    this.handler.inodes.tick();
    const direct = this.#direct(bytes);
    if (direct !== undefined) return direct;
    let req: FuseRequest;
    try {
      req = decodeRequest(bytes, this.#codec);
    } catch (e) {
      let unique: bigint;
      try {
        unique = decodeInHeader(bytes).unique;
      } catch {
        this.#log(`ringside engine: dropped a message without a valid header: ${message(e)}`);
        return null;
      }
      this.#log(`ringside engine: malformed request ${unique}: ${message(e)}`);
      return encodeErrorReply(unique, Errno.EINVAL);
    }
    try {
      return this.#dispatch(req);
    } catch (e) {
      return this.#failed(req.op, req.header.unique, e);
    }
  }

  /** The reply to a request whose handling threw `e`: its errno, or EIO (logged) for anything else. */
  #failed(op: string, unique: bigint, e: unknown): Uint8Array {
    if (e instanceof SysError) return this.#bare(unique, e.errno);
    if (e instanceof CodecError) {
      this.#log(`ringside engine: cannot encode the reply to ${op} ${unique}: ${e.message}`);
      return encodeErrorReply(unique, Errno.EIO);
    }
    this.#log(
      `ringside engine: ${op} ${unique} failed unexpectedly: ${
        e instanceof Error ? e.stack ?? e.message : String(e)
      }`,
    );
    return encodeErrorReply(unique, Errno.EIO);
  }

  /**
   * GETATTR and LOOKUP, the requests a stat makes, answered straight from the
   * request bytes into a reused reply: no request or reply objects, the
   * attributes written from the stat. Byte for byte what the general path
   * answers; undefined for everything it leaves to that path: other
   * opcodes, `.` and `..`, anything unusual in the message (extensions, a
   * length that does not add up, a name without its NUL or with another
   * inside), a minor before 7.9, an observer, a transport that does not
   * consume replies at once, or no session yet.
   */
  #direct(bytes: Uint8Array): Uint8Array | undefined {
    const negotiated = this.#negotiated;
    if (
      negotiated === null || negotiated.minor < 9 || this.#observer !== undefined ||
      !this.repliesConsumedAtOnce || bytes.length < 40
    ) return undefined;
    // fuse_in_header.opcode, read before anything is built for the other opcodes
    const opcode = bytes[4] | bytes[5] << 8 | bytes[6] << 16 | bytes[7] << 24;
    if (opcode !== Opcode.GETATTR && opcode !== Opcode.LOOKUP) return undefined;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const len = v.getUint32(0, true);
    if (len !== bytes.length || v.getUint16(36, true) !== 0) return undefined;
    const unique = v.getBigUint64(8, true);
    const nodeid = v.getBigUint64(16, true);
    if (opcode === Opcode.GETATTR) {
      if (len !== GETATTR_REQUEST_SIZE) return undefined;
      try {
        const flags = v.getUint32(40, true);
        this.handler.getattrInto(this.#attrView, 16, nodeid, flags, v.getBigUint64(48, true));
      } catch (e) {
        return this.#failed("GETATTR", unique, e);
      }
      return this.#filled(this.#attrReply, this.#attrView, unique);
    }
    // LOOKUP: the name and its NUL end the message, with no NUL before; not . or ..
    const n = len - 41;
    if (n < 1 || bytes.indexOf(0, 40) !== len - 1) return undefined;
    if (bytes[40] === DOT && (n === 1 || (n === 2 && bytes[41] === DOT))) return undefined;
    let errno: number;
    try {
      errno = this.handler.lookupInto(this.#entryView, 16, nodeid, bytes.subarray(40, len - 1));
    } catch (e) {
      return this.#failed("LOOKUP", unique, e);
    }
    if (errno !== 0) return this.#bare(unique, errno);
    return this.#filled(this.#entryReply, this.#entryView, unique);
  }

  /** `reply` (its body already written) with a success fuse_out_header for `unique`. */
  #filled(reply: Uint8Array, view: DataView, unique: bigint): Uint8Array {
    view.setUint32(0, reply.length, true);
    view.setInt32(4, 0, true);
    view.setBigUint64(8, unique, true);
    return reply;
  }

  /**
   * READ or WRITE with the file data in scattered memory the caller maps (a
   * virtqueue's guest buffers), read or written in place by preadv/pwritev.
   * `head` holds the request's first 80 bytes (fuse_in_header, then
   * fuse_read_in or fuse_write_in) and `iov` the data buffers: where READ's
   * data goes (after the reply header, which the caller writes; at most the
   * READ's size) or where WRITE's comes from (exactly its size). Returns the
   * reply: for READ its 16-byte header, whose `len` counts the data already in
   * place; for WRITE the whole reply. Returns null when the request must go
   * through {@linkcode handle} instead: another opcode, extensions, a minor
   * before 7.9, an O_DIRECT or O_APPEND handle, an observer, a transport
   * that does not consume replies at once, or no session yet. The reply
   * comes from a buffer the next call reuses.
   */
  handleVectored(head: Uint8Array, iov: IoVecList): Uint8Array | null {
    if (
      this.#closed || this.#negotiated === null || this.#observer !== undefined ||
      !this.repliesConsumedAtOnce || head.length < VECTORED_HEAD || this.#negotiated.minor < 9
    ) return null;
    const v = new DataView(head.buffer, head.byteOffset, VECTORED_HEAD);
    const opcode = v.getUint32(4, true);
    if ((opcode !== Opcode.READ && opcode !== Opcode.WRITE) || v.getUint16(36, true) !== 0) {
      return null;
    }
    const len = v.getUint32(0, true);
    const unique = v.getBigUint64(8, true);
    const fh = v.getBigUint64(40, true);
    const offset = v.getBigUint64(48, true);
    const size = v.getUint32(56, true);
    try {
      if (opcode === Opcode.READ) {
        if (len !== VECTORED_HEAD || iov.length > size) return null;
        const n = this.handler.readv(fh, offset, iov);
        if (n === null) return null;
        // a bare success header whose len counts the data already in place
        const header = this.#bare(unique, 0);
        this.#bareView.setUint32(0, BARE_REPLY_SIZE + n, true);
        return header;
      }
      if (len !== VECTORED_HEAD + size || iov.length !== size) return null;
      const n = this.handler.writev(fh, offset, v.getUint32(60, true), iov);
      return n === null ? null : this.#writeOut(unique, n);
    } catch (e) {
      if (e instanceof SysError) return this.#bare(unique, e.errno);
      throw e;
    }
  }

  /** A WRITE reply of `size` bytes written, in the reused buffer. */
  #writeOut(unique: bigint, size: number): Uint8Array {
    // fuse_out_header, then fuse_write_out (size, padding)
    this.#writeView.setUint32(16, size, true);
    return this.#filled(this.#writeReply, this.#writeView, unique);
  }

  #reply(req: FuseRequest, body: unknown): Uint8Array {
    return encodeReply(
      { op: req.op, header: { unique: req.header.unique }, body } as FuseReplyInit,
      this.#codec,
    );
  }

  #empty(req: FuseRequest): Uint8Array {
    return this.#bare(req.header.unique, 0);
  }

  /**
   * A header-only reply (success without a body, or an error) for a request
   * answered now: from one reused buffer when the transport consumes replies
   * at once, since allocating even 16 bytes costs more than many system calls.
   */
  #bare(unique: bigint, errno: number): Uint8Array {
    if (!this.repliesConsumedAtOnce || this.#observer !== undefined) {
      return encodeErrorReply(unique, errno);
    }
    // fuse_out_header: len, error (negated errno), unique
    const v = this.#bareView;
    v.setUint32(0, BARE_REPLY_SIZE, true);
    v.setInt32(4, errno === 0 ? 0 : -Math.abs(errno), true);
    v.setBigUint64(8, unique, true);
    return this.#bareReply;
  }

  #dispatch(req: FuseRequest): Uint8Array | null | Promise<Uint8Array | null> {
    const h = this.handler;
    const nodeid = req.header.nodeid;
    if (req.op === "INIT") return this.#init(req);
    if (req.op === "FORGET") {
      h.inodes.forget(nodeid, req.body.nlookup);
      return null;
    }
    if (req.op === "BATCH_FORGET") {
      for (const f of req.body.forgets) h.inodes.forget(f.nodeid, f.nlookup);
      return null;
    }
    if (req.op === "NOTIFY_REPLY") return null;
    if (req.op === "INTERRUPT") {
      this.#waiting.get(req.body.unique)?.cancel(Errno.EINTR);
      return null;
    }
    if (this.#negotiated === null) return encodeErrorReply(req.header.unique, Errno.EIO);
    switch (req.op) {
      case "DESTROY":
        this.#resetState();
        this.#negotiated = null;
        return this.#empty(req);
      case "LOOKUP": {
        const entry = h.lookupEntry(nodeid, req.body);
        if (typeof entry === "number") return this.#bare(req.header.unique, entry);
        return this.#reply(req, entry);
      }
      case "GETATTR":
        return this.#reply(req, h.getattr(nodeid, req.body));
      case "SETATTR":
        return this.#reply(req, h.setattr(nodeid, req.body));
      case "READLINK":
        return this.#reply(req, h.readlink(nodeid));
      case "SYMLINK":
        return this.#reply(req, h.symlink(nodeid, req.body, context(req)));
      case "MKNOD":
        return this.#reply(req, h.mknod(nodeid, req.body, context(req)));
      case "MKDIR":
        return this.#reply(req, h.mkdir(nodeid, req.body, context(req)));
      case "UNLINK":
        h.unlink(nodeid, req.body);
        return this.#empty(req);
      case "RMDIR":
        h.rmdir(nodeid, req.body);
        return this.#empty(req);
      case "RENAME":
        h.rename(nodeid, { ...req.body, flags: 0, padding: 0 });
        return this.#empty(req);
      case "RENAME2":
        h.rename(nodeid, req.body);
        return this.#empty(req);
      case "LINK":
        return this.#reply(req, h.link(nodeid, req.body));
      case "OPEN":
        return this.#reply(req, h.open(nodeid, req.body, context(req)));
      case "READ":
        if (this.repliesConsumedAtOnce && this.#observer === undefined) {
          return h.readReply(req.body, req.header.unique);
        }
        return this.#reply(req, h.read(req.body));
      case "WRITE": {
        const out = h.write(req.body);
        if (this.repliesConsumedAtOnce && this.#observer === undefined) {
          return this.#writeOut(req.header.unique, out.size);
        }
        return this.#reply(req, out);
      }
      case "STATFS":
        return this.#reply(req, h.statfs(nodeid));
      case "RELEASE":
      case "RELEASEDIR":
        h.release(req.body);
        return this.#empty(req);
      case "FSYNC":
      case "FSYNCDIR":
        h.fsync(req.body);
        return this.#empty(req);
      case "FLUSH":
        h.flush(nodeid, req.body);
        return this.#empty(req);
      case "SETXATTR":
        h.setxattr(nodeid, req.body);
        return this.#empty(req);
      case "GETXATTR":
        return this.#reply(req, h.getxattr(nodeid, req.body));
      case "LISTXATTR":
        return this.#reply(req, h.listxattr(nodeid, req.body));
      case "REMOVEXATTR":
        h.removexattr(nodeid, req.body);
        return this.#empty(req);
      case "OPENDIR":
        return this.#reply(req, h.opendir(nodeid));
      case "READDIR":
      case "READDIRPLUS":
        // written straight from the host's records; reused on the same terms as #bare
        return h.readdirReply(req.body, req.header.unique, {
          plus: req.op === "READDIRPLUS",
          reuse: this.repliesConsumedAtOnce && this.#observer === undefined,
        });
      case "GETLK":
        return this.#reply(req, h.getlk(nodeid, req.body));
      case "SETLK":
        h.setlk(nodeid, req.body);
        return this.#empty(req);
      case "SETLKW":
        return this.#setlkw(req);
      case "ACCESS":
        h.access(nodeid, req.body, context(req));
        return this.#empty(req);
      case "CREATE":
        return this.#reply(req, h.create(nodeid, req.body, context(req)));
      case "TMPFILE":
        return this.#reply(req, h.tmpfile(nodeid, req.body, context(req)));
      case "FALLOCATE":
        h.fallocate(req.body);
        return this.#empty(req);
      case "LSEEK":
        return this.#reply(req, h.lseek(req.body));
      case "COPY_FILE_RANGE":
        return this.#reply(req, { size: h.copyFileRange(req.body), padding: 0 });
      case "COPY_FILE_RANGE_64":
        return this.#reply(req, { bytes_copied: BigInt(h.copyFileRange(req.body)) });
      case "SYNCFS":
        h.syncfs();
        return this.#empty(req);
      case "STATX":
        return this.#reply(req, h.statx(nodeid, req.body));
      case "IOCTL":
      case "POLL":
      case "BMAP":
      case "SETUPMAPPING":
      case "REMOVEMAPPING":
      case "CUSE_INIT":
      case "UNKNOWN":
        // No meaning for a host directory: a deliberate ENOSYS.
        return encodeErrorReply(req.header.unique, Errno.ENOSYS);
    }
  }

  #init(req: FuseRequest & { op: "INIT" }): Uint8Array {
    const b = req.body;
    const unique = req.header.unique;
    if (b.major < 7) return encodeErrorReply(unique, Errno.EPROTO);
    // A second INIT without DESTROY starts a new session: forget everything.
    this.#resetState();
    if (b.major > 7) {
      // Tell a newer kernel our major; it sends INIT again with 7.
      const out = initOut(7, ENGINE_MINOR, 0, 0n);
      return encodeReply({ op: "INIT", header: { unique }, body: out }, { minor: ENGINE_MINOR });
    }
    const minor = Math.min(b.minor, ENGINE_MINOR);
    const ext = (b.flags & Number(InitFlag.INIT_EXT)) !== 0 && minor >= 36;
    const offered = initFlagsWord(b.flags, ext ? b.flags2 : 0);
    const o = this.handler.options;
    let want = InitFlag.ASYNC_READ | InitFlag.POSIX_LOCKS | InitFlag.ATOMIC_O_TRUNC |
      InitFlag.BIG_WRITES | InitFlag.FLOCK_LOCKS | InitFlag.DO_READDIRPLUS |
      InitFlag.READDIRPLUS_AUTO | InitFlag.ASYNC_DIO | InitFlag.PARALLEL_DIROPS |
      InitFlag.HANDLE_KILLPRIV_V2 | InitFlag.MAX_PAGES | InitFlag.INIT_EXT |
      InitFlag.CREATE_SUPP_GROUP;
    // with nothing cached, READDIRPLUS's entries would be looked up for nothing
    // (virtiofsd turns it off for cache=none too)
    if (o.cache === "never") want &= ~(InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO);
    if (o.cache === "auto") want |= InitFlag.AUTO_INVAL_DATA;
    if (o.cache === "always") want |= InitFlag.CACHE_SYMLINKS;
    if (o.writeback && !o.readonly) want |= InitFlag.WRITEBACK_CACHE;
    // passthrough only where the transport can register backing files, and not
    // beside the writeback cache (the kernel keeps file data in one place or the other)
    if (this.handler.backingFiles !== null && (want & InitFlag.WRITEBACK_CACHE) === 0n) {
      want |= InitFlag.PASSTHROUGH;
    }
    const granted = want & offered;
    this.handler.writebackActive = (granted & InitFlag.WRITEBACK_CACHE) !== 0n;
    this.handler.passthroughActive = (granted & InitFlag.PASSTHROUGH) !== 0n;
    this.#codec = { minor, setxattrExt: false };
    this.#negotiated = { minor, flags: granted };
    const out = initOut(7, minor, b.max_readahead, granted);
    // backing files must sit on a file system stacked less deep than this (ext4, tmpfs: 0)
    if (this.handler.passthroughActive) out.max_stack_depth = 1;
    return encodeReply({ op: "INIT", header: { unique }, body: out }, this.#codec);
  }

  #setlkw(req: FuseRequest & { op: "SETLKW" }): Uint8Array | Promise<Uint8Array | null> {
    const h = this.handler;
    const nodeid = req.header.nodeid;
    const unique = req.header.unique;
    const attempt = (): boolean => {
      try {
        h.setlk(nodeid, req.body);
        return true;
      } catch (e) {
        if (e instanceof SysError && e.errno === Errno.EAGAIN) return false;
        throw e;
      }
    };
    if (attempt()) return this.#empty(req);
    return new Promise<Uint8Array | null>((resolve) => {
      let delay = 1;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (reply: Uint8Array | null) => {
        if (timer !== undefined) clearTimeout(timer);
        this.#waiting.delete(unique);
        resolve(reply);
      };
      this.#waiting.set(unique, {
        cancel: (errno) => finish(errno === 0 ? null : encodeErrorReply(unique, errno)),
      });
      const poll = () => {
        timer = undefined;
        try {
          if (attempt()) return finish(encodeErrorReply(unique, 0));
        } catch (e) {
          const errno = e instanceof SysError ? e.errno : Errno.EIO;
          if (!(e instanceof SysError)) {
            this.#log(`ringside engine: SETLKW ${unique}: ${message(e)}`);
          }
          return finish(encodeErrorReply(unique, errno));
        }
        delay = Math.min(delay * 2, 50);
        timer = setTimeout(poll, delay);
      };
      timer = setTimeout(poll, delay);
    });
  }

  #resetState(): void {
    for (const w of [...this.#waiting.values()]) w.cancel(Errno.EINTR);
    this.handler.reset();
  }

  /** Ends the session: answers waiting requests with EINTR and closes every descriptor. */
  close(): void {
    if (this.#closed) return;
    for (const w of [...this.#waiting.values()]) w.cancel(Errno.EINTR);
    this.#closed = true;
    this.handler.close();
  }
}

function initOut(major: number, minor: number, readahead: number, flags: bigint): FuseInitOut {
  const { flags: lo, flags2: hi } = splitInitFlags(flags);
  return {
    major,
    minor,
    max_readahead: readahead,
    flags: lo,
    max_background: 64,
    congestion_threshold: 48,
    max_write: ENGINE_MAX_WRITE,
    time_gran: 1,
    max_pages: ENGINE_MAX_WRITE / 4096,
    map_alignment: 0,
    flags2: hi,
    max_stack_depth: 0,
    request_timeout: 0,
  };
}

function context(req: FuseRequest): RequestContext {
  let groups: number[] | undefined;
  if (req.extensions !== undefined) {
    for (const e of req.extensions) if (e.kind === "supp_groups") groups = e.groups;
  }
  return {
    uid: req.header.uid,
    gid: req.header.gid,
    pid: req.header.pid,
    unique: req.header.unique,
    groups: groups ?? [],
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Builds a passthrough FUSE server over `sharedDir` (a directory on this
 * host). Its state lives in the calling thread; run it in one Worker per
 * session. `options` other than `observer`/`log` are structured-cloneable, so
 * a transport can pass them to a Worker.
 *
 * @example
 * ```ts
 * import { createPassthrough } from "./session.ts";
 * const server = createPassthrough("/tmp", { cache: "never", readonly: true });
 * // transport: const reply = await server.handle(requestBytes);
 * server.close();
 * ```
 */
export function createPassthrough(
  sharedDir: string,
  options: PassthroughServerOptions = {},
): PassthroughServer {
  return new PassthroughServer(sharedDir, options);
}
