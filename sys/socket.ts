/**
 * Unix stream sockets over FFI with file-descriptor passing (SCM_RIGHTS), as
 * the vhost-user control channel needs: socket, bind, listen, accept,
 * connect, sendmsg/recvmsg with up to {@linkcode MAX_FDS_PER_MESSAGE} fds,
 * shutdown, close and O_NONBLOCK. All calls are synchronous and work in
 * Workers; to wait for readability without blocking the event loop use
 * `pollAsync` / `waitReadableAsync` from ./poll.ts.
 *
 * Struct layouts are x86_64 Linux (sockaddr_un 110 bytes, msghdr 56, iovec
 * 16, cmsghdr 16 + data).
 *
 * @module
 */
import { check, Errno, errno, openLibc, SysError } from "./libc.ts";

/** AF_UNIX. */
export const AF_UNIX = 1;
/** SOCK_STREAM. */
export const SOCK_STREAM = 1;
/** SOCK_NONBLOCK (socket type flag). */
export const SOCK_NONBLOCK = 0o4000;
/** SOCK_CLOEXEC (socket type flag). */
export const SOCK_CLOEXEC = 0o2000000;
/** shutdown(2) `how`: no more receptions. */
export const SHUT_RD = 0;
/** shutdown(2) `how`: no more transmissions. */
export const SHUT_WR = 1;
/** shutdown(2) `how`: neither. */
export const SHUT_RDWR = 2;
/** Most fds {@linkcode recvMsg} accepts with one message by default (vhost-user sends at most 8). */
export const MAX_FDS_PER_MESSAGE = 16;

const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const MSG_CTRUNC = 0x8;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const EINTR = 4;
const EAGAIN = 11;
const SUN_PATH_MAX = 108;
const SOCKADDR_UN_SIZE = 110;
const CMSG_HDR = 16;

const libc = openLibc(
  {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    listen: { parameters: ["i32", "i32"], result: "i32" },
    accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
    recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  } as const,
);

function cmsgSpace(fds: number): number {
  return CMSG_HDR + ((fds * 4 + 7) & ~7);
}

function sockaddrUn(path: string): Uint8Array {
  const name = new TextEncoder().encode(path);
  if (name.length >= SUN_PATH_MAX) {
    throw new SysError("sockaddr_un", Errno.ENAMETOOLONG, path);
  }
  const sa = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(sa.buffer).setUint16(0, AF_UNIX, true);
  sa.set(name, 2);
  return sa;
}

function ptr(buf: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>));
}

/** Options of {@linkcode unixSocket} and {@linkcode socketPair}. */
export interface SocketOptions {
  /** Open with O_NONBLOCK (default false). */
  nonblocking?: boolean;
}

function typeFlags(options: SocketOptions): number {
  return SOCK_STREAM | SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
}

/** A new AF_UNIX SOCK_STREAM socket (close-on-exec). */
export function unixSocket(options: SocketOptions = {}): number {
  return check("socket", libc.socket(AF_UNIX, typeFlags(options), 0));
}

/**
 * A connected pair of AF_UNIX SOCK_STREAM sockets (close-on-exec).
 *
 * @example
 * ```ts
 * import { close, recvMsg, sendMsg, socketPair } from "./socket.ts";
 * const [a, b] = socketPair();
 * sendMsg(a, new Uint8Array([1, 2, 3]));
 * const got = recvMsg(b, new Uint8Array(16));
 * console.log(got.bytes, got.fds); // 3 []
 * close(a);
 * close(b);
 * ```
 */
export function socketPair(options: SocketOptions = {}): [number, number] {
  const sv = new Int32Array(2);
  check(
    "socketpair",
    libc.socketpair(AF_UNIX, typeFlags(options), 0, new Uint8Array(sv.buffer)),
  );
  return [sv[0], sv[1]];
}

/** Binds `fd` to the filesystem path `path`. */
export function bindUnix(fd: number, path: string): void {
  check("bind", libc.bind(fd, sockaddrUn(path), SOCKADDR_UN_SIZE), path);
}

/** Marks `fd` as listening with the given backlog. */
export function listen(fd: number, backlog = 16): void {
  check("listen", libc.listen(fd, backlog));
}

/** Options of {@linkcode listenUnix}. */
export interface ListenOptions extends SocketOptions {
  /** listen(2) backlog (default 16). */
  backlog?: number;
  /** Remove an existing socket file at `path` first (never another kind of file). Default true. */
  replaceStale?: boolean;
}

/** socket + bind + listen on `path`; returns the listening fd. */
export function listenUnix(path: string, options: ListenOptions = {}): number {
  if (options.replaceStale ?? true) {
    try {
      if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const fd = unixSocket(options);
  try {
    bindUnix(fd, path);
    listen(fd, options.backlog ?? 16);
  } catch (e) {
    libc.close(fd);
    throw e;
  }
  return fd;
}

/**
 * Accepts one connection on listening `fd` (accept4, close-on-exec). With a
 * non-blocking listener and no pending connection, returns -1 instead of
 * throwing EAGAIN.
 */
export function accept(fd: number, options: SocketOptions = {}): number {
  const flags = SOCK_CLOEXEC | (options.nonblocking ? SOCK_NONBLOCK : 0);
  for (;;) {
    const r = libc.accept4(fd, null, null, flags);
    if (r >= 0) return r;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return -1;
    throw new SysError("accept4", e);
  }
}

/** A new socket connected to the listener at `path`. */
export function connectUnix(path: string, options: SocketOptions = {}): number {
  const fd = unixSocket(options);
  const sa = sockaddrUn(path);
  for (;;) {
    if (libc.connect(fd, sa, SOCKADDR_UN_SIZE) === 0) return fd;
    const e = errno();
    if (e === EINTR) continue;
    libc.close(fd);
    throw new SysError("connect", e, path);
  }
}

// One scratch msghdr/iovec per thread (module instances are per isolate).
const msghdr = new Uint8Array(56);
const msgView = new DataView(msghdr.buffer);
const iov = new Uint8Array(16);
const iovView = new DataView(iov.buffer);
let control = new Uint8Array(cmsgSpace(MAX_FDS_PER_MESSAGE));

function setMsg(data: Uint8Array, ctrl: Uint8Array | null, ctrlLen: number) {
  iovView.setBigUint64(0, data.length === 0 ? 0n : ptr(data), true);
  iovView.setBigUint64(8, BigInt(data.length), true);
  msghdr.fill(0);
  msgView.setBigUint64(16, ptr(iov), true); // msg_iov
  msgView.setBigUint64(24, 1n, true); // msg_iovlen
  if (ctrl !== null && ctrlLen > 0) {
    msgView.setBigUint64(32, ptr(ctrl), true); // msg_control
    msgView.setBigUint64(40, BigInt(ctrlLen), true); // msg_controllen
  }
}

/** Options of {@linkcode sendMsg}. */
export interface SendOptions {
  /** File descriptors to pass with the first byte (SCM_RIGHTS). */
  fds?: readonly number[];
  /** MSG_DONTWAIT: do not block; EAGAIN before any byte is thrown, after some the count is returned. */
  dontWait?: boolean;
}

/**
 * Sends all of `data` on stream socket `fd`, the fds (if any) in the
 * ancillary data of the first sendmsg, so the peer receives them with the
 * first byte. Retries on EINTR and short writes; never raises SIGPIPE
 * (EPIPE is thrown as a SysError). Returns the bytes sent: all of them,
 * unless the socket is non-blocking (or `dontWait`) and its buffer filled up
 * after a partial send; EAGAIN before any byte is thrown.
 */
export function sendMsg(fd: number, data: Uint8Array, options: SendOptions = {}): number {
  const fds = options.fds ?? [];
  let ctrlLen = 0;
  if (fds.length > 0) {
    ctrlLen = cmsgSpace(fds.length);
    if (control.length < ctrlLen) control = new Uint8Array(ctrlLen);
    control.fill(0, 0, ctrlLen);
    const cv = new DataView(control.buffer);
    cv.setBigUint64(0, BigInt(CMSG_HDR + fds.length * 4), true);
    cv.setInt32(8, SOL_SOCKET, true);
    cv.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((f, i) => cv.setInt32(CMSG_HDR + i * 4, f, true));
  }
  const flags = MSG_NOSIGNAL | (options.dontWait ? MSG_DONTWAIT : 0);
  let sent = 0;
  let first = true;
  while (first || sent < data.length) {
    setMsg(data.subarray(sent), first ? control : null, first ? ctrlLen : 0);
    const r = Number(libc.sendmsg(fd, msghdr, flags));
    if (r < 0) {
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN && !first) return sent;
      throw new SysError("sendmsg", e);
    }
    first = false;
    sent += r;
  }
  return sent;
}

/** Options of {@linkcode recvMsg}. */
export interface RecvOptions {
  /** Most fds accepted with this read (default {@linkcode MAX_FDS_PER_MESSAGE}). */
  maxFds?: number;
  /** MSG_DONTWAIT: even on a blocking socket, return `bytes: -1` instead of waiting. */
  dontWait?: boolean;
}

/** What {@linkcode recvMsg} read. */
export interface RecvResult {
  /** Bytes read into the buffer; 0 at end of stream; -1 when a non-blocking read found nothing. */
  bytes: number;
  /** File descriptors received (close-on-exec), in the order sent. The caller owns them. */
  fds: number[];
  /** True when the kernel dropped fds because more came than `maxFds` (MSG_CTRUNC). */
  fdsTruncated: boolean;
}

/**
 * One recvmsg(2) on stream socket `fd` into `buf` (up to `buf.length`
 * bytes), collecting SCM_RIGHTS fds. Retries on EINTR. A stream read may
 * return fewer bytes than a whole message: the caller loops (see
 * `messageBytesNeeded` in codecs/vhost_user).
 */
export function recvMsg(fd: number, buf: Uint8Array, options: RecvOptions = {}): RecvResult {
  const maxFds = options.maxFds ?? MAX_FDS_PER_MESSAGE;
  const ctrlLen = maxFds > 0 ? cmsgSpace(maxFds) : 0;
  if (control.length < ctrlLen) control = new Uint8Array(ctrlLen);
  const flags = MSG_CMSG_CLOEXEC | (options.dontWait ? MSG_DONTWAIT : 0);
  let r: number;
  for (;;) {
    setMsg(buf, control, ctrlLen);
    r = Number(libc.recvmsg(fd, msghdr, flags));
    if (r >= 0) break;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return { bytes: -1, fds: [], fdsTruncated: false };
    throw new SysError("recvmsg", e);
  }
  const fds: number[] = [];
  const got = Number(msgView.getBigUint64(40, true));
  const cv = new DataView(control.buffer);
  let off = 0;
  while (off + CMSG_HDR <= got) {
    const len = Number(cv.getBigUint64(off, true));
    if (len < CMSG_HDR || off + len > got) break;
    if (cv.getInt32(off + 8, true) === SOL_SOCKET && cv.getInt32(off + 12, true) === SCM_RIGHTS) {
      const n = (len - CMSG_HDR) >> 2;
      for (let i = 0; i < n; i++) fds.push(cv.getInt32(off + CMSG_HDR + i * 4, true));
    }
    off += (len + 7) & ~7;
  }
  const msgFlags = msgView.getInt32(48, true);
  return { bytes: r, fds, fdsTruncated: (msgFlags & MSG_CTRUNC) !== 0 };
}

/** shutdown(2): `how` is {@linkcode SHUT_RD}, {@linkcode SHUT_WR} or {@linkcode SHUT_RDWR}. */
export function shutdown(fd: number, how: number = SHUT_RDWR): void {
  check("shutdown", libc.shutdown(fd, how));
}

/** close(2). EINTR is not retried (Linux has closed the fd anyway). */
export function close(fd: number): void {
  const r = libc.close(fd);
  if (r < 0) {
    const e = errno();
    if (e !== EINTR) throw new SysError("close", e);
  }
}

/** Sets or clears O_NONBLOCK on `fd`. */
export function setNonblocking(fd: number, on = true): void {
  const fl = check("fcntl", libc.fcntl(fd, F_GETFL, 0));
  check("fcntl", libc.fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK));
}
