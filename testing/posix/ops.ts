/**
 * The system calls the POSIX conformance cases make, as a table of named
 * operations with JSON arguments and JSON results: every call returns
 * `{ ret }` or `{ errno }` (the symbolic name), never throws. The same table
 * runs in the test's main thread and in helper subprocesses (a second
 * process for locks, uid 65534 for permission cases), so a case can be a
 * list of (actor, operation) steps.
 *
 * @module
 */
import * as fs from "../../sys/fs.ts";
import { SysError } from "../../sys/libc.ts";

/** The outcome of one operation: a JSON value or an errno name. */
export type OpResult = { ret: unknown } | { errno: string };

/** A time for `utimens`: seconds and nanoseconds, `"now"` or `"omit"`. */
export type Time = { sec: number; nsec: number } | "now" | "omit";

/** What a case compares about a file (times only when asked). */
export interface StatSummary {
  type: string;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  blocks: number;
  ino: string;
  atime?: [number, number];
  mtime?: [number, number];
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const AT = fs.AT_FDCWD;

function typeName(mode: number): string {
  switch (mode & fs.S_IFMT) {
    case fs.S_IFREG:
      return "file";
    case fs.S_IFDIR:
      return "dir";
    case fs.S_IFLNK:
      return "symlink";
    case fs.S_IFIFO:
      return "fifo";
    case fs.S_IFSOCK:
      return "socket";
    default:
      return "device";
  }
}

function summary(st: fs.Stat, times = false): StatSummary {
  const s: StatSummary = {
    type: typeName(st.mode),
    mode: st.mode & 0o7777,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    size: Number(st.size),
    // a directory's allocated blocks depend on the host's allocation history
    // (ext4 htree index blocks), not on the file system's semantics: only a
    // regular file's blocks say something (sparse files, fallocate)
    blocks: (st.mode & fs.S_IFMT) === fs.S_IFREG ? Number(st.blocks) : 0,
    ino: st.ino.toString(),
  };
  if (times) {
    s.atime = [st.atimeSec, st.atimeNsec];
    s.mtime = [st.mtimeSec, st.mtimeNsec];
  }
  return s;
}

function names(buf: Uint8Array, n: number): string[] {
  return dec.decode(buf.subarray(0, n)).split("\0").filter((x) => x !== "").sort();
}

/** Reads every entry of a directory with getdents64 and a buffer of `bufSize` bytes. */
function listDir(path: string, bufSize: number): { names: string[]; cookies: bigint[] } {
  const fd = fs.openat(AT, path, { flags: fs.O_RDONLY | fs.O_DIRECTORY });
  const buf = new Uint8Array(bufSize);
  const out: string[] = [];
  const cookies: bigint[] = [];
  try {
    for (;;) {
      const n = fs.getdents64(fd, buf);
      if (n === 0) break;
      for (const d of fs.readDirents(buf, n)) {
        out.push(dec.decode(d.name));
        cookies.push(d.off);
      }
    }
  } finally {
    fs.close(fd);
  }
  return { names: out, cookies };
}

function walk(root: string, rel: string, out: Record<string, unknown>[]): void {
  const path = rel === "" ? root : `${root}/${rel}`;
  const st = fs.statx(AT, path, { flags: fs.AT_SYMLINK_NOFOLLOW });
  const e: Record<string, unknown> = { path: rel, ...summary(st) };
  if (e.type === "symlink") e.target = dec.decode(fs.readlinkat(AT, path));
  if (e.type === "file" && Number(st.size) <= 65536) {
    const fd = fs.openat(AT, path, { flags: fs.O_RDONLY });
    const buf = new Uint8Array(Number(st.size));
    fs.pread(fd, buf, 0);
    fs.close(fd);
    e.content = dec.decode(buf);
  }
  if (e.type === "file" || e.type === "dir") {
    const buf = new Uint8Array(65536);
    try {
      const x: Record<string, string> = {};
      for (const name of names(buf, fs.listxattr(path, buf))) {
        if (!name.startsWith("user.")) continue;
        const v = new Uint8Array(65536);
        x[name] = dec.decode(v.subarray(0, fs.getxattr(path, name, v)));
      }
      if (Object.keys(x).length) e.xattrs = x;
    } catch (err) {
      if (!(err instanceof SysError)) throw err;
      e.xattrs = err.code;
    }
  }
  out.push(e);
  if (e.type === "dir") {
    const { names: entries } = listDir(path, 32768);
    for (const name of entries.filter((n) => n !== "." && n !== "..").sort()) {
      walk(root, rel === "" ? name : `${rel}/${name}`, out);
    }
  }
}

function lockOut(l: fs.Flock): Record<string, unknown> {
  return { type: l.type, start: Number(l.start), len: Number(l.len), pid: l.pid };
}

// deno-lint-ignore no-explicit-any
type Op = (...args: any[]) => unknown;

/** A `size`-byte view of fresh memory aligned to 4096 bytes (what O_DIRECT needs). */
function aligned(size: number): Uint8Array {
  const raw = new Uint8Array(size + 4096);
  const addr = Deno.UnsafePointer.value(Deno.UnsafePointer.of(raw));
  const skip = Number((4096n - (BigInt(addr) % 4096n)) % 4096n);
  return raw.subarray(skip, skip + size);
}

/** The operations, by name. Paths are absolute; data is text. */
export const OPS: Record<string, Op> = {
  pid: () => Deno.pid,
  open: (path: string, flags: number, mode = 0o644) => fs.openat(AT, path, { flags, mode }),
  close: (fd: number) => fs.close(fd),
  write: (fd: number, text: string) => fs.write(fd, enc.encode(text)),
  pwrite: (fd: number, text: string, off: number) => fs.pwrite(fd, enc.encode(text), off),
  pread: (fd: number, len: number, off: number) => {
    const buf = new Uint8Array(len);
    return dec.decode(buf.subarray(0, fs.pread(fd, buf, off)));
  },
  lseek: (fd: number, off: number, whence: number) => Number(fs.lseek(fd, off, whence)),
  ftruncate: (fd: number, len: number) => fs.ftruncate(fd, len),
  truncate: (path: string, len: number) => fs.truncate(path, len),
  fstat: (fd: number, times = false) => summary(fs.fstat(fd), times),
  stat: (path: string, times = false) => summary(fs.statx(AT, path), times),
  lstat: (path: string, times = false) =>
    summary(fs.statx(AT, path, { flags: fs.AT_SYMLINK_NOFOLLOW }), times),
  mkdir: (path: string, mode = 0o755) => fs.mkdirat(AT, path, { mode }),
  rmdir: (path: string) => fs.unlinkat(AT, path, { flags: fs.AT_REMOVEDIR }),
  unlink: (path: string) => fs.unlinkat(AT, path),
  rename: (from: string, to: string, flags = 0) => fs.renameat2([AT, from], [AT, to], { flags }),
  link: (from: string, to: string) => fs.linkat([AT, from], [AT, to]),
  symlink: (target: string, path: string) => fs.symlinkat(target, [AT, path]),
  readlink: (path: string) => dec.decode(fs.readlinkat(AT, path)),
  chmod: (path: string, mode: number) => fs.fchmodat(AT, path, { mode }),
  chown: (path: string, uid: number, gid: number) => fs.fchownat(AT, path, { uid, gid }),
  lchown: (path: string, uid: number, gid: number) =>
    fs.fchownat(AT, path, { uid, gid, flags: fs.AT_SYMLINK_NOFOLLOW }),
  utimens: (path: string, atime: Time, mtime: Time, nofollow = false) =>
    fs.utimensat(AT, path, { atime, mtime, flags: nofollow ? fs.AT_SYMLINK_NOFOLLOW : 0 }),
  access: (path: string, mode: number) => fs.faccessat(AT, path, { mode }),
  setxattr: (path: string, name: string, value: string, flags = 0) =>
    fs.setxattr(path, name, { value: enc.encode(value), flags }),
  getxattr: (path: string, name: string, size: number) => {
    const buf = new Uint8Array(size);
    const n = fs.getxattr(path, name, buf);
    return size === 0 ? n : dec.decode(buf.subarray(0, n));
  },
  listxattr: (path: string, size: number) => {
    const buf = new Uint8Array(size);
    const n = fs.listxattr(path, buf);
    return size === 0 ? n : names(buf, n).filter((x) => x.startsWith("user."));
  },
  removexattr: (path: string, name: string) => fs.removexattr(path, name),
  /** fcntl F_GETLK (5), F_SETLK (6), F_SETLKW (7) with a POSIX (process) lock. */
  lock: (fd: number, cmd: number, type: number, start: number, len: number) =>
    lockOut(fs.fcntlLock(fd, cmd, { type, start: BigInt(start), len: BigInt(len), pid: 0 })),
  /** pwrite of `text` repeated to `size` bytes from 4096-aligned memory (for O_DIRECT). */
  pwriteAligned: (fd: number, text: string, size: number, off: number) => {
    const buf = aligned(size);
    buf.set(enc.encode(text.repeat(Math.ceil(size / text.length))).subarray(0, size));
    return fs.pwrite(fd, buf, off);
  },
  /** pread of `size` bytes into 4096-aligned memory; returns the first 16 bytes read and the count. */
  preadAligned: (fd: number, size: number, off: number) => {
    const buf = aligned(size);
    const n = fs.pread(fd, buf, off);
    return { n, head: dec.decode(buf.subarray(0, Math.min(n, 16))) };
  },
  /** Creates `n` empty files `f00000`... in `dir`. */
  mkfiles: (dir: string, n: number) => {
    for (let i = 0; i < n; i++) {
      fs.close(
        fs.openat(AT, `${dir}/f${String(i).padStart(5, "0")}`, {
          flags: fs.O_WRONLY | fs.O_CREAT | fs.O_EXCL,
          mode: 0o644,
        }),
      );
    }
    return n;
  },
  /** Lists a directory with a small getdents buffer (many READDIR resumptions). */
  listdir: (path: string, bufSize: number) => {
    const { names: all } = listDir(path, bufSize);
    return { count: all.length, distinct: new Set(all).size, names: all.sort() };
  },
  /**
   * Reads a directory with a small buffer, then reopens it, seeks to the
   * cookie of entry `at` and reads the rest: true when the rest is exactly
   * what the first pass saw after that entry.
   */
  dirresume: (path: string, bufSize: number, at: number) => {
    const first = listDir(path, bufSize);
    const fd = fs.openat(AT, path, { flags: fs.O_RDONLY | fs.O_DIRECTORY });
    const buf = new Uint8Array(bufSize);
    const rest: string[] = [];
    try {
      fs.lseek(fd, first.cookies[at], fs.SEEK_SET);
      for (;;) {
        const n = fs.getdents64(fd, buf);
        if (n === 0) break;
        for (const d of fs.readDirents(buf, n)) rest.push(dec.decode(d.name));
      }
    } finally {
      fs.close(fd);
    }
    const expected = first.names.slice(at + 1);
    return { restCount: rest.length, same: JSON.stringify(rest) === JSON.stringify(expected) };
  },
  /** Every entry under `root` (relative paths, sorted), with content, link targets and user xattrs. */
  snapshot: (root: string) => {
    const out: Record<string, unknown>[] = [];
    walk(root, "", out);
    return out;
  },
};

/** Runs one operation; a SysError becomes `{ errno }`. */
export function runOp(op: string, args: unknown[]): OpResult {
  const f = OPS[op];
  if (f === undefined) throw new Error(`unknown operation ${op}`);
  try {
    const ret = f(...args);
    return { ret: ret === undefined ? 0 : ret };
  } catch (e) {
    if (e instanceof SysError) return { errno: e.code };
    throw e;
  }
}
