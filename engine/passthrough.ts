/**
 * The passthrough handler: answers decoded FUSE requests from a host
 * directory. Every host call is relative to a descriptor the engine holds
 * (the shared directory's, or an inode's `O_PATH` descriptor) with a single
 * path component that is never `..` and never followed if it is a symlink, so
 * no request reaches outside the shared tree. Creating operations run with
 * the caller's fsuid, fsgid and supplementary groups.
 *
 * @module
 */
import * as fs from "../sys/fs.ts";
import type { Caller, ThreadCredentials } from "../sys/creds.ts";
import type { BackingFiles } from "./types.ts";
import { SysError } from "../sys/libc.ts";
import { FATTR, FOPEN, FSYNC, FUSE_OPEN, LK, RELEASE, WRITE } from "../codecs/fuse/constants.ts";
import { nameText } from "../codecs/fuse/names.ts";
import { DirentList, DirentplusList } from "../codecs/fuse/dirents.ts";
import type {
  CopyFileRangeIn,
  CreateIn,
  FuseAttr,
  FuseEntryOut,
  FuseFileLock,
  FuseOpenOut,
  FuseStatx,
  LkIn,
  ReadIn,
  ReplyBodiesInit as ReplyBodies,
  RequestBodies,
  XattrOut,
} from "../codecs/fuse/types.ts";
import {
  devicePrefix,
  type DirStream,
  Errno,
  fail,
  type Handle,
  HandleTable,
  identity,
  type Inode,
  InodeTable,
} from "./tables.ts";

/** How much the client may cache (virtiofsd's `--cache`). */
export type CacheMode = "never" | "auto" | "always";

/** Options of the passthrough handler; every field is structured-cloneable. */
export interface PassthroughOptions {
  /** Cache mode: timeouts 0 / 1 s / 1 day, direct I/O for `never`, keep-cache for `always` (default `auto`). */
  cache?: CacheMode;
  /** Offer the kernel's writeback cache (default false). */
  writeback?: boolean;
  /** Refuse every change with EROFS (default false). */
  readonly?: boolean;
  /** Serve extended attributes; when false the xattr opcodes answer ENOSYS (default true). */
  xattr?: boolean;
  /** Let clients open with `O_DIRECT` (default true). */
  allowDirectIo?: boolean;
  /** Let clients create block and character devices with MKNOD (default true, as root can locally). */
  allowDevices?: boolean;
  /** Entry timeout in seconds (default from `cache`). */
  entryTimeout?: number;
  /** Attribute timeout in seconds (default from `cache`). */
  attrTimeout?: number;
  /**
   * Inodes that may hold a descriptor at once; past it the least recently
   * used are parked as file handles (default: half the soft limit on open
   * files). See {@linkcode InodeTable}.
   */
  maxInodeFds?: number;
}

/** Who asks: the request header's ids and the 7.38 supplementary groups when sent. */
export interface RequestContext extends Caller {
  /** Caller's pid (0 for kernel-internal requests). */
  pid: number;
  /** The request's `unique`. */
  unique: bigint;
}

const OFFSET_MAX = 0x7fffffffffffffffn;
const FULL_LOCK_OFFSET = 0x7fffffffffffffffn;
const S_IFMT = fs.S_IFMT;
const ENTRY_OUT = 128; // fuse_entry_out, as READDIRPLUS carries it
const DIRENT_HEADER = 24; // fuse_dirent before the name
const OUT_HEADER = 16; // fuse_out_header
const DIR_STREAM_SIZE = 32 * 1024; // one getdents64 batch
const DIR_REPLY_MAX = 1 << 20; // largest READDIR reply written (the kernel asks <= max_pages)
const SPARE_DIR_BUFS = 4;
const LOOKUP_OPEN: fs.OpenOptions = { flags: fs.O_PATH | fs.O_NOFOLLOW };
const STAT_NAME: fs.StatxOptions = { flags: fs.AT_SYMLINK_NOFOLLOW | fs.AT_NO_AUTOMOUNT };
const READ_REPLY_MAX = 1 << 20; // the session's max_write, also the largest READ the kernel sends
const WRITE_OPEN = fs.O_WRONLY | fs.O_RDWR | fs.O_TRUNC | fs.O_APPEND | fs.O_CREAT;

/** Writes a 64-bit field from a number (exact below 2^53; negative as two's complement). */
function setU64(v: DataView, o: number, n: number): void {
  const hi = Math.floor(n / 0x100000000);
  v.setUint32(o, n - hi * 0x100000000, true);
  v.setInt32(o + 4, hi, true);
}

/** Options of {@linkcode Passthrough.readdirReply}. */
export interface ReaddirReplyOptions {
  /** READDIRPLUS: each entry with its fuse_entry_out, counting a lookup (default false). */
  plus?: boolean;
  /** Answer in a buffer the next call overwrites instead of a fresh array (default false). */
  reuse?: boolean;
}

const SLASH = 0x2f;
const DOT = 0x2e;

/** Whether the name bytes are `.` or `..`. */
function isDotOrDotDot(name: Uint8Array): boolean {
  const n = name.length;
  return (n === 1 && name[0] === DOT) || (n === 2 && name[0] === DOT && name[1] === DOT);
}

/**
 * Refuses names that are not one path component (empty, containing `/` or
 * NUL, `.` or `..`). Names are bytes as they travel (a string is taken as
 * its UTF-8 encoding); any other byte is allowed, as on Linux.
 */
export function checkName(name: Uint8Array | string): void {
  const b = typeof name === "string" ? new TextEncoder().encode(name) : name;
  if (b.length === 0) fail("name", Errno.ENOENT, "empty");
  if (b.indexOf(SLASH) !== -1) fail("name", Errno.EINVAL, JSON.stringify(nameText(b)));
  if (isDotOrDotDot(b)) fail("name", Errno.EINVAL, nameText(b));
  if (b.indexOf(0) !== -1) fail("name", Errno.EINVAL, "NUL in name");
}

/** fuse_attr (7.9+, 88 bytes; include/uapi/linux/fuse.h) at `a` of `v`, as codecs/fuse writeAttr lays out {@linkcode Passthrough.attr}. */
function writeAttr(v: DataView, a: number, st: fs.Stat): void {
  v.setBigUint64(a, st.ino, true);
  v.setBigUint64(a + 8, st.size, true);
  v.setBigUint64(a + 16, st.blocks, true);
  setU64(v, a + 24, st.atimeSec);
  setU64(v, a + 32, st.mtimeSec);
  setU64(v, a + 40, st.ctimeSec);
  v.setUint32(a + 48, st.atimeNsec, true);
  v.setUint32(a + 52, st.mtimeNsec, true);
  v.setUint32(a + 56, st.ctimeNsec, true);
  v.setUint32(a + 60, st.mode, true);
  v.setUint32(a + 64, st.nlink, true);
  v.setUint32(a + 68, st.uid, true);
  v.setUint32(a + 72, st.gid, true);
  v.setUint32(a + 76, st.rdev >>> 0, true);
  v.setUint32(a + 80, st.blksize, true);
  v.setUint32(a + 84, 0, true);
}

function timeoutParts(seconds: number): [bigint, number] {
  const s = Math.max(0, seconds);
  const whole = Math.floor(s);
  return [BigInt(whole), Math.round((s - whole) * 1e9)];
}

/** The handler itself: state (inode and handle tables) plus one method per opcode. */
export class Passthrough {
  /** Inode table (exposed for tests and the session). */
  readonly inodes: InodeTable;
  /** File and directory handles. */
  readonly handles: HandleTable;
  readonly #opts: Required<
    Omit<PassthroughOptions, "entryTimeout" | "attrTimeout" | "maxInodeFds">
  >;
  readonly #creds: ThreadCredentials;
  readonly #entryValid: bigint;
  readonly #entryValidNsec: number;
  readonly #attrValid: bigint;
  readonly #attrValidNsec: number;
  readonly #umask: number;
  // the thread's own credentials: a caller with exactly these needs no switch
  readonly #ownUid = Deno.uid() ?? 0;
  readonly #ownGid = Deno.gid() ?? 0;
  readonly #ownGroups = fs.getgroups();
  // page-aligned: O_DIRECT host descriptors read into it directly
  readonly #readBuf = fs.alignedBytes(1 << 20);
  // O_DIRECT writes whose payload is not page-aligned in memory are copied here first
  #bounce: Uint8Array | null = null;
  // reused READ replies (see readReply), allocated on first use
  #readReply: Uint8Array | null = null;
  #readReplyView: DataView | null = null;
  // listing buffers of released directory handles, to reuse
  readonly #spareDirBufs: Uint8Array[] = [];
  // READDIR replies are written here (and copied out unless reused)
  #dirReply = new Uint8Array(OUT_HEADER + 4096);
  #dirReplyView = new DataView(this.#dirReply.buffer);
  /** Whether the writeback cache was negotiated (set by the session after INIT). */
  writebackActive = false;
  /** Registers host files with the kernel for FUSE passthrough (set by a transport that can). */
  backingFiles: BackingFiles | null = null;
  /** Whether FUSE passthrough was negotiated (set by the session after INIT). */
  passthroughActive = false;
  // inodes holding a backing id, so a reset can drop them
  readonly #backed = new Set<Inode>();

  /** Opens the shared directory; throws a SysError when it cannot be opened as a directory. */
  constructor(sharedDir: string, options: PassthroughOptions, creds: ThreadCredentials) {
    const cache = options.cache ?? "auto";
    this.#opts = {
      cache,
      writeback: options.writeback ?? false,
      readonly: options.readonly ?? false,
      xattr: options.xattr ?? true,
      allowDirectIo: options.allowDirectIo ?? true,
      allowDevices: options.allowDevices ?? true,
    };
    const defaultTimeout = cache === "never" ? 0 : cache === "always" ? 86400 : 1;
    [this.#entryValid, this.#entryValidNsec] = timeoutParts(
      options.entryTimeout ?? defaultTimeout,
    );
    [this.#attrValid, this.#attrValidNsec] = timeoutParts(options.attrTimeout ?? defaultTimeout);
    this.#creds = creds;
    const old = fs.umask(0o022);
    fs.umask(old);
    this.#umask = old;
    const rootFd = fs.openat(fs.AT_FDCWD, sharedDir, { flags: fs.O_PATH | fs.O_DIRECTORY });
    this.inodes = new InodeTable(rootFd, fs.fstat(rootFd), { maxFds: options.maxInodeFds });
    this.handles = new HandleTable();
  }

  /** The options in force (defaults filled in). */
  get options(): Readonly<
    Required<Omit<PassthroughOptions, "entryTimeout" | "attrTimeout" | "maxInodeFds">>
  > {
    return this.#opts;
  }

  /** Forgets all state (second INIT, DESTROY): closes handles and inodes, new id generation. */
  reset(): void {
    this.#dropBackings();
    this.handles.reset();
    this.inodes.reset();
  }

  /** Closes every descriptor; the handler is unusable afterwards. */
  close(): void {
    this.#dropBackings();
    this.handles.reset();
    this.inodes.close();
  }

  // ------------------------------------------------------------ helpers

  #writable(call: string): void {
    if (this.#opts.readonly) fail(call, Errno.EROFS);
  }

  /** fuse_attr from a host stat. */
  attr(st: fs.Stat): FuseAttr {
    return {
      ino: st.ino,
      size: st.size,
      blocks: st.blocks,
      atime: BigInt(st.atimeSec),
      mtime: BigInt(st.mtimeSec),
      ctime: BigInt(st.ctimeSec),
      atimensec: st.atimeNsec,
      mtimensec: st.mtimeNsec,
      ctimensec: st.ctimeNsec,
      mode: st.mode,
      nlink: st.nlink,
      uid: st.uid,
      gid: st.gid,
      rdev: st.rdev >>> 0,
      blksize: st.blksize,
      flags: 0,
    };
  }

  #entry(inode: Inode, st: fs.Stat): FuseEntryOut {
    return {
      nodeid: BigInt(inode.nodeid),
      generation: 0n,
      entry_valid: this.#entryValid,
      attr_valid: this.#attrValid,
      entry_valid_nsec: this.#entryValidNsec,
      attr_valid_nsec: this.#attrValidNsec,
      attr: this.attr(st),
    };
  }

  /** Opens `name` in `parent` as `O_PATH` without following it, and counts a lookup. */
  #lookupChild(parent: Inode, name: Uint8Array): FuseEntryOut {
    const entry = this.#tryLookupChild(parent, name);
    if (typeof entry === "number") fail("lookup", entry);
    return entry;
  }

  /** {@linkcode #lookupChild} returning the errno of a failed open instead of throwing it. */
  #tryLookupChild(parent: Inode, name: Uint8Array): FuseEntryOut | number {
    if (parent.type !== fs.S_IFDIR) return Errno.ENOTDIR;
    const child = this.#internChild(parent, name);
    return typeof child === "number" ? child : this.#entry(child.inode, child.st);
  }

  /**
   * Opens `name` in `parent` as `O_PATH` without following it and counts a
   * lookup: its inode and attributes, or the errno of the open.
   */
  #internChild(parent: Inode, name: Uint8Array): { inode: Inode; st: fs.Stat } | number {
    const fd = this.#tryOpenPath(parent, name);
    if (fd < 0) return -fd;
    let st: fs.Stat;
    try {
      st = fs.fstat(fd);
    } catch (e) {
      fs.close(fd);
      throw e;
    }
    return { inode: this.inodes.intern(fd, st), st };
  }

  /**
   * Opens `name` in `parent` as `O_PATH` without following it: the
   * descriptor or the negated errno. Out of descriptors, it parks inodes and
   * tries once more.
   */
  #tryOpenPath(parent: Inode, name: Uint8Array): number {
    const fd = fs.tryOpenat(parent.fd, name, LOOKUP_OPEN);
    if (fd !== -Errno.EMFILE || !this.inodes.relieve(true)) return fd;
    return fs.tryOpenat(parent.fd, name, LOOKUP_OPEN);
  }

  /**
   * Runs `open` once more after parking inodes when it failed for want of
   * descriptors: safe for any open, as the kernel takes the descriptor
   * before it walks the path, so nothing was created or truncated.
   */
  #opening<T>(open: () => T): T {
    try {
      return open();
    } catch (e) {
      if (!(e instanceof SysError) || e.errno !== Errno.EMFILE || !this.inodes.relieve(true)) {
        throw e;
      }
      return open();
    }
  }

  /** Counts a lookup of an object for which we hold an open descriptor `fd` (after a create). */
  #internOpen(fd: number): FuseEntryOut {
    const pfd = this.#opening(() =>
      fs.openat(fs.AT_FDCWD, fs.procFdPath(fd), { flags: fs.O_PATH })
    );
    let st: fs.Stat;
    try {
      st = fs.fstat(pfd);
    } catch (e) {
      fs.close(pfd);
      throw e;
    }
    return this.#entry(this.inodes.intern(pfd, st), st);
  }

  #dir(nodeid: bigint): Inode {
    const inode = this.inodes.get(nodeid);
    if (inode.type !== fs.S_IFDIR) fail("dir", Errno.ENOTDIR);
    return inode;
  }

  /** Re-applies permission bits the host umask took away from a mode the client asked for. */
  #fixMode(fd: number, path: Uint8Array | "", mode: number): void {
    if ((mode & this.#umask & 0o777) === 0) return;
    if (path.length === 0) fs.fchmod(fd, mode & 0o7777);
    else fs.fchmodat(fd, path, { mode: mode & 0o7777 });
  }

  #runAs<T>(ctx: RequestContext, fn: () => T): T {
    // Switching costs six system calls; the caller often is the server's own user.
    if (ctx.uid === this.#ownUid && ctx.gid === this.#ownGid) {
      // root's supplementary groups change no permission check (it has the capabilities)
      if (ctx.uid === 0 || sameGroups(ctx.groups, this.#ownGroups)) return fn();
    }
    return this.#creds.run(ctx, fn);
  }

  /** Reopens an inode's `O_PATH` descriptor with real access flags (regular files and directories only). */
  #reopen(inode: Inode, flags: number): number {
    const type = inode.type;
    if (type === fs.S_IFLNK) fail("open", Errno.ELOOP);
    if (type !== fs.S_IFREG && type !== fs.S_IFDIR) fail("open", Errno.ENXIO);
    return this.#opening(() =>
      fs.openat(fs.AT_FDCWD, fs.procFdPath(inode.fd), {
        flags: flags & ~(fs.O_CREAT | fs.O_EXCL | fs.O_NOCTTY | fs.O_NOFOLLOW),
      })
    );
  }

  #openFlags(flags: number): number {
    let f = flags;
    if (!this.#opts.allowDirectIo) f &= ~fs.O_DIRECT;
    if (this.writebackActive) {
      // The kernel may read a write-only file to fill its cache, and does appends itself.
      if ((f & fs.O_ACCMODE) === fs.O_WRONLY) f = (f & ~fs.O_ACCMODE) | fs.O_RDWR;
      f &= ~fs.O_APPEND;
    }
    return f;
  }

  #dropBackings(): void {
    for (const inode of this.#backed) {
      if (inode.backing) this.#closeBacking(inode.backing.id);
      inode.backing = undefined;
    }
    this.#backed.clear();
  }

  #closeBacking(id: number): void {
    try {
      this.backingFiles?.close(id);
    } catch { /* the connection is gone: its backing files went with it */ }
  }

  /**
   * A regular file's open reply: through FUSE passthrough when negotiated
   * (reads and writes then go from the kernel to the host file, no request
   * reaches us), otherwise the cache mode's flags.
   */
  #fileOpenOut(fd: number, inode: Inode, flags: number, mode?: number): FuseOpenOut {
    const fh = this.handles.add(fd, inode, flags);
    if (!this.passthroughActive || this.backingFiles === null || inode.backing === false) {
      return this.#openOut(fh, false);
    }
    // set-id files stay on the server: the kernel writes a backing file with
    // our credentials, which would not clear the bits as a write by the caller does
    if (
      inode.backing === undefined &&
      ((mode ?? fs.fstat(fd).mode) & (fs.S_ISUID | fs.S_ISGID)) !== 0
    ) {
      return this.#openOut(fh, false);
    }
    if (inode.backing === undefined) {
      try {
        inode.backing = { id: this.backingFiles.open(fd), opens: 0 };
        this.#backed.add(inode);
      } catch {
        inode.backing = false; // e.g. a host file system stacked too deep: cached opens from now on
        return this.#openOut(fh, false);
      }
    }
    inode.backing.opens++;
    this.handles.get(fh).backing = true;
    return { fh: BigInt(fh), open_flags: FOPEN.FOPEN_PASSTHROUGH, backing_id: inode.backing.id };
  }

  #openOut(fh: number, dir: boolean): FuseOpenOut {
    let flags = 0;
    if (dir) {
      if (this.#opts.cache === "always") flags |= FOPEN.FOPEN_CACHE_DIR | FOPEN.FOPEN_KEEP_CACHE;
    } else if (this.#opts.cache === "never") flags |= FOPEN.FOPEN_DIRECT_IO;
    else if (this.#opts.cache === "always") flags |= FOPEN.FOPEN_KEEP_CACHE;
    return { fh: BigInt(fh), open_flags: flags, backing_id: 0 };
  }

  #killSuidSgid(fd: number): void {
    const st = fs.fstat(fd);
    let mode = st.mode & 0o7777;
    if ((mode & fs.S_ISUID) !== 0) mode &= ~fs.S_ISUID;
    if ((mode & (fs.S_ISGID | fs.S_IXGRP)) === (fs.S_ISGID | fs.S_IXGRP)) mode &= ~fs.S_ISGID;
    if (mode !== (st.mode & 0o7777)) chmodPath(fd, mode);
  }

  // ------------------------------------------------------------ names

  /** LOOKUP: `.` is the parent, `..` its parent but never above the shared directory. */
  lookup(nodeid: bigint, b: RequestBodies["LOOKUP"]): FuseEntryOut {
    const entry = this.lookupEntry(nodeid, b);
    if (typeof entry === "number") fail("lookup", entry);
    return entry;
  }

  /**
   * {@linkcode lookup} that returns the errno of a name that cannot be opened
   * instead of throwing it: a missing name is common (every create starts
   * with one), and an exception costs more than the system call.
   */
  lookupEntry(nodeid: bigint, b: RequestBodies["LOOKUP"]): FuseEntryOut | number {
    const parent = this.#dir(nodeid);
    const name = b.name;
    if (name.length === 1 && name[0] === DOT) {
      parent.nlookup++;
      return this.#entry(parent, fs.fstat(parent.fd));
    }
    if (name.length === 2 && name[0] === DOT && name[1] === DOT) return this.#lookupDotDot(parent);
    checkName(name);
    return this.#tryLookupChild(parent, name);
  }

  #lookupDotDot(dir: Inode): FuseEntryOut {
    const root = this.inodes.root;
    if (dir === root) {
      root.nlookup++;
      return this.#entry(root, fs.fstat(root.fd));
    }
    const fd = fs.openat(dir.fd, "..", { flags: fs.O_PATH | fs.O_DIRECTORY });
    try {
      // Walk up to prove the result is inside the tree (the host may have moved things).
      const st = fs.fstat(fd);
      if (!this.#beneathRoot(fd, st)) fail("lookup", Errno.EACCES, "outside the shared directory");
      return this.#entry(this.inodes.intern(fd, st), st);
    } catch (e) {
      try {
        fs.close(fd);
      } catch { /* already owned by the table */ }
      throw e;
    }
  }

  #beneathRoot(fd: number, st: fs.Stat): boolean {
    const rootKey = this.inodes.root.key;
    let key = `${st.dev}:${st.ino}`;
    let cur = fs.dup(fd);
    try {
      for (let depth = 0; depth < 4096; depth++) {
        if (key === rootKey) return true;
        const up = fs.openat(cur, "..", { flags: fs.O_PATH | fs.O_DIRECTORY });
        fs.close(cur);
        cur = up;
        const s = fs.fstat(cur);
        const next = `${s.dev}:${s.ino}`;
        if (next === key) return false; // reached the host's root
        key = next;
      }
      return false;
    } finally {
      fs.close(cur);
    }
  }

  /** GETATTR (through the handle when FUSE_GETATTR_FH is set). */
  getattr(nodeid: bigint, b: RequestBodies["GETATTR"]): ReplyBodies["GETATTR"] {
    return this.#attrOut(this.#getattrFd(nodeid, b.getattr_flags, b.fh));
  }

  /** What GETATTR stats: the handle with FUSE_GETATTR_FH, else the node (both must exist). */
  #getattrFd(nodeid: bigint, getattrFlags: number, fh: bigint): number {
    const inode = this.inodes.get(nodeid);
    return (getattrFlags & 1) !== 0 ? this.handles.get(fh).fd : inode.fd;
  }

  #attrOut(fd: number): ReplyBodies["GETATTR"] {
    return {
      attr_valid: this.#attrValid,
      attr_valid_nsec: this.#attrValidNsec,
      dummy: 0,
      attr: this.attr(fs.fstat(fd)),
    };
  }

  /** SETATTR: mode, owner, size, times (NOW included), ctime, through the handle when given. */
  setattr(nodeid: bigint, b: RequestBodies["SETATTR"]): ReplyBodies["SETATTR"] {
    this.#writable("setattr");
    const inode = this.inodes.get(nodeid);
    const v = b.valid;
    const handle = (v & FATTR.FATTR_FH) !== 0 ? this.handles.get(b.fh) : null;
    const fd = inode.fd;
    if ((v & FATTR.FATTR_MODE) !== 0) {
      if (inode.type === fs.S_IFLNK) fail("chmod", Errno.EOPNOTSUPP);
      chmodPath(fd, b.mode & 0o7777);
    }
    if ((v & (FATTR.FATTR_UID | FATTR.FATTR_GID)) !== 0) {
      fs.fchownat(fd, "", {
        uid: (v & FATTR.FATTR_UID) !== 0 ? b.uid : -1,
        gid: (v & FATTR.FATTR_GID) !== 0 ? b.gid : -1,
        flags: fs.AT_EMPTY_PATH | fs.AT_SYMLINK_NOFOLLOW,
      });
    }
    if ((v & FATTR.FATTR_SIZE) !== 0) {
      if (handle !== null) fs.ftruncate(handle.fd, b.size);
      else if (inode.type === fs.S_IFDIR) fail("truncate", Errno.EISDIR);
      else if (inode.type !== fs.S_IFREG) fail("truncate", Errno.EINVAL);
      else fs.truncate(fs.procFdPath(fd), b.size);
      if ((v & FATTR.FATTR_KILL_SUIDGID) !== 0) this.#killSuidSgid(fd);
    }
    const timeBits = FATTR.FATTR_ATIME | FATTR.FATTR_MTIME | FATTR.FATTR_ATIME_NOW |
      FATTR.FATTR_MTIME_NOW;
    if ((v & timeBits) !== 0) {
      const atime: fs.TimeSpec = (v & FATTR.FATTR_ATIME_NOW) !== 0
        ? "now"
        : (v & FATTR.FATTR_ATIME) !== 0
        ? { sec: Number(b.atime), nsec: b.atimensec }
        : "omit";
      const mtime: fs.TimeSpec = (v & FATTR.FATTR_MTIME_NOW) !== 0
        ? "now"
        : (v & FATTR.FATTR_MTIME) !== 0
        ? { sec: Number(b.mtime), nsec: b.mtimensec }
        : "omit";
      fs.utimensat(fd, "", { atime, mtime, flags: fs.AT_EMPTY_PATH });
    } else if ((v & FATTR.FATTR_CTIME) !== 0 && (v & ~(FATTR.FATTR_CTIME | FATTR.FATTR_FH)) === 0) {
      // ctime cannot be set; a no-op chown moves it to now, as the client expects.
      fs.fchownat(fd, "", { flags: fs.AT_EMPTY_PATH | fs.AT_SYMLINK_NOFOLLOW });
    }
    return this.#attrOut(fd);
  }

  /** READLINK: the raw target, never followed. */
  readlink(nodeid: bigint): ReplyBodies["READLINK"] {
    const inode = this.inodes.get(nodeid);
    if (inode.type !== fs.S_IFLNK) fail("readlink", Errno.EINVAL);
    return { link: fs.readlinkat(inode.fd, "") };
  }

  /** SYMLINK, as the caller. */
  symlink(nodeid: bigint, b: RequestBodies["SYMLINK"], ctx: RequestContext): FuseEntryOut {
    this.#writable("symlink");
    const parent = this.#dir(nodeid);
    checkName(b.name);
    this.#runAs(ctx, () => fs.symlinkat(b.linkname, [parent.fd, b.name]));
    return this.#lookupChild(parent, b.name);
  }

  /** MKNOD, as the caller; devices only when allowed. */
  mknod(nodeid: bigint, b: RequestBodies["MKNOD"], ctx: RequestContext): FuseEntryOut {
    this.#writable("mknod");
    const parent = this.#dir(nodeid);
    checkName(b.name);
    const type = b.mode & S_IFMT;
    if ((type === fs.S_IFCHR || type === fs.S_IFBLK) && !this.#opts.allowDevices) {
      fail("mknod", Errno.EPERM, "devices are not allowed");
    }
    this.#runAs(ctx, () => fs.mknodat(parent.fd, b.name, { mode: b.mode, dev: b.rdev }));
    this.#fixMode(parent.fd, b.name, b.mode);
    return this.#lookupChild(parent, b.name);
  }

  /** MKDIR, as the caller. */
  mkdir(nodeid: bigint, b: RequestBodies["MKDIR"], ctx: RequestContext): FuseEntryOut {
    this.#writable("mkdir");
    const parent = this.#dir(nodeid);
    checkName(b.name);
    this.#runAs(ctx, () => fs.mkdirat(parent.fd, b.name, { mode: b.mode & 0o7777 }));
    this.#fixMode(parent.fd, b.name, b.mode);
    return this.#lookupChild(parent, b.name);
  }

  /** UNLINK. */
  unlink(nodeid: bigint, b: RequestBodies["UNLINK"]): void {
    this.#writable("unlink");
    const parent = this.#dir(nodeid);
    checkName(b.name);
    fs.unlinkat(parent.fd, b.name);
  }

  /** RMDIR. */
  rmdir(nodeid: bigint, b: RequestBodies["RMDIR"]): void {
    this.#writable("rmdir");
    const parent = this.#dir(nodeid);
    checkName(b.name);
    fs.unlinkat(parent.fd, b.name, { flags: fs.AT_REMOVEDIR });
  }

  /** RENAME and RENAME2 (NOREPLACE, EXCHANGE, WHITEOUT). */
  rename(nodeid: bigint, b: RequestBodies["RENAME2"]): void {
    this.#writable("rename");
    const from = this.#dir(nodeid);
    const to = this.#dir(b.newdir);
    checkName(b.oldname);
    checkName(b.newname);
    const allowed = fs.RENAME_NOREPLACE | fs.RENAME_EXCHANGE | fs.RENAME_WHITEOUT;
    if ((b.flags & ~allowed) !== 0) fail("rename", Errno.EINVAL);
    fs.renameat2([from.fd, b.oldname], [to.fd, b.newname], { flags: b.flags });
  }

  /** LINK: a new name in the tree for a node the client holds. */
  link(nodeid: bigint, b: RequestBodies["LINK"]): FuseEntryOut {
    this.#writable("link");
    const parent = this.#dir(nodeid);
    const target = this.inodes.get(b.oldnodeid);
    checkName(b.newname);
    if (target.type === fs.S_IFDIR) fail("link", Errno.EPERM);
    fs.linkat([target.fd, ""], [parent.fd, b.newname], { flags: fs.AT_EMPTY_PATH });
    return this.#lookupChild(parent, b.newname);
  }

  // ------------------------------------------------------------ files

  /** OPEN (regular files only). */
  open(nodeid: bigint, b: RequestBodies["OPEN"], ctx: RequestContext): FuseOpenOut {
    const inode = this.inodes.get(nodeid);
    if (inode.type === fs.S_IFDIR) fail("open", Errno.EISDIR);
    if (this.#opts.readonly && ((b.flags & WRITE_OPEN) !== 0)) fail("open", Errno.EROFS);
    const flags = this.#openFlags(b.flags);
    const fd = this.#reopen(inode, flags);
    if ((b.flags & fs.O_TRUNC) !== 0 && (b.open_flags & FUSE_OPEN.FUSE_OPEN_KILL_SUIDGID) !== 0) {
      this.#killSuidSgid(inode.fd);
    }
    void ctx;
    return this.#fileOpenOut(fd, inode, flags);
  }

  /** CREATE, as the caller: never follows a symlink at the name. */
  create(nodeid: bigint, b: CreateIn, ctx: RequestContext): ReplyBodies["CREATE"] {
    this.#writable("create");
    const parent = this.#dir(nodeid);
    checkName(b.name);
    const flags = this.#openFlags(b.flags) | fs.O_CREAT | fs.O_NOFOLLOW;
    const fd = this.#opening(() =>
      this.#runAs(ctx, () => fs.openat(parent.fd, b.name, { flags, mode: b.mode & 0o7777 }))
    );
    try {
      this.#fixMode(fd, "", b.mode);
      // by name (half the cost of a /proc/self/fd walk); should the host have
      // moved it meanwhile, through the descriptor
      const byName = this.#tryLookupChild(parent, b.name);
      const entry = typeof byName === "number" ? this.#internOpen(fd) : byName;
      const inode = this.inodes.get(entry.nodeid);
      return { entry, open: this.#fileOpenOut(fd, inode, flags, entry.attr.mode) };
    } catch (e) {
      fs.close(fd);
      throw e;
    }
  }

  /** TMPFILE, as the caller: an unnamed file in the directory. */
  tmpfile(nodeid: bigint, b: CreateIn, ctx: RequestContext): ReplyBodies["TMPFILE"] {
    this.#writable("tmpfile");
    const parent = this.#dir(nodeid);
    const acc = (b.flags & fs.O_ACCMODE) === fs.O_RDONLY ? fs.O_RDWR : b.flags & fs.O_ACCMODE;
    const flags = (this.#openFlags(b.flags) & ~(fs.O_ACCMODE | fs.O_CREAT | fs.O_EXCL)) | acc;
    const fd = this.#opening(() =>
      this.#runAs(
        ctx,
        () => fs.openat(parent.fd, ".", { flags: flags | fs.O_TMPFILE, mode: b.mode & 0o7777 }),
      )
    );
    try {
      this.#fixMode(fd, "", b.mode);
      const entry = this.#internOpen(fd);
      const inode = this.inodes.get(entry.nodeid);
      return { entry, open: this.#fileOpenOut(fd, inode, flags, entry.attr.mode) };
    } catch (e) {
      fs.close(fd);
      throw e;
    }
  }

  /** READ into a reused buffer (the reply encoder copies it). */
  read(b: ReadIn): ReplyBodies["READ"] {
    const h = this.handles.get(b.fh);
    const size = Math.min(b.size, this.#readBuf.length);
    const n = fs.pread(h.fd, this.#readBuf.subarray(0, size), b.offset);
    return { data: this.#readBuf.subarray(0, n) };
  }

  /**
   * READ answered in a buffer this handler reuses: returns the whole reply
   * message (fuse_out_header, then the data read straight into it, no copy),
   * valid until the next call. The data starts on a page boundary, so an
   * O_DIRECT host descriptor reads into it too.
   */
  readReply(b: ReadIn, unique: bigint): Uint8Array {
    const h = this.handles.get(b.fh);
    const size = Math.min(b.size, READ_REPLY_MAX);
    if (this.#readReply === null) {
      this.#readReply = fs.alignedBytes(READ_REPLY_MAX + 4096)
        .subarray(4096 - OUT_HEADER, 4096 + READ_REPLY_MAX);
      this.#readReplyView = new DataView(
        this.#readReply.buffer,
        this.#readReply.byteOffset,
        OUT_HEADER,
      );
    }
    const n = fs.pread(h.fd, this.#readReply.subarray(OUT_HEADER, OUT_HEADER + size), b.offset);
    // fuse_out_header: len, error 0, unique; the data follows
    const v = this.#readReplyView!;
    v.setUint32(0, OUT_HEADER + n, true);
    v.setInt32(4, 0, true);
    v.setBigUint64(8, unique, true);
    return this.#readReply.subarray(0, OUT_HEADER + n);
  }

  /** WRITE (O_APPEND handles append; KILL_SUIDGID clears set-id bits first). */
  write(b: RequestBodies["WRITE"]): ReplyBodies["WRITE"] {
    this.#writable("write");
    const h = this.handles.get(b.fh);
    if ((b.write_flags & WRITE.FUSE_WRITE_KILL_SUIDGID) !== 0) this.#killSuidSgid(h.inode.fd);
    let data = b.data;
    if ((h.flags & fs.O_DIRECT) !== 0 && !fs.isAligned(data)) {
      // The client's O_DIRECT buffer was aligned; ours (the payload inside a
      // request message) may not be. Offset and length stay the client's, so
      // an unaligned O_DIRECT write still fails with EINVAL as it does locally.
      data = this.#aligned(data);
    }
    const n = (h.flags & fs.O_APPEND) !== 0
      ? fs.write(h.fd, data)
      : fs.pwrite(h.fd, data, b.offset);
    return { size: n, padding: 0 };
  }

  /**
   * READ straight into the buffers `iov` lists (memory the transport maps,
   * such as a guest's), at most their total length; returns the bytes read,
   * or null for an O_DIRECT handle (its buffers must be aligned: use
   * {@linkcode Passthrough.readReply}).
   */
  readv(fh: bigint, offset: bigint, iov: fs.IoVecList): number | null {
    const h = this.handles.get(fh);
    if ((h.flags & fs.O_DIRECT) !== 0) return null;
    return iov.readAt(h.fd, offset);
  }

  /**
   * WRITE from the buffers `iov` lists, with {@linkcode Passthrough.write}'s
   * checks; null for an O_DIRECT or O_APPEND handle (use `write`).
   */
  writev(fh: bigint, offset: bigint, writeFlags: number, iov: fs.IoVecList): number | null {
    this.#writable("write");
    const h = this.handles.get(fh);
    if ((h.flags & (fs.O_DIRECT | fs.O_APPEND)) !== 0) return null;
    if ((writeFlags & WRITE.FUSE_WRITE_KILL_SUIDGID) !== 0) this.#killSuidSgid(h.inode.fd);
    return fs.pwritev(h.fd, iov.bytes, iov.count, offset);
  }

  #aligned(data: Uint8Array): Uint8Array {
    if (this.#bounce === null || this.#bounce.length < data.length) {
      this.#bounce = fs.alignedBytes(Math.max(data.length, 1 << 20));
    }
    const out = this.#bounce.subarray(0, data.length);
    out.set(data);
    return out;
  }

  /** STATFS of the file system holding the node. */
  statfs(nodeid: bigint): ReplyBodies["STATFS"] {
    const s = fs.fstatvfs(this.inodes.get(nodeid).fd);
    return {
      st: {
        blocks: s.blocks,
        bfree: s.bfree,
        bavail: s.bavail,
        files: s.files,
        ffree: s.ffree,
        bsize: Number(s.bsize),
        namelen: Number(s.namemax),
        frsize: Number(s.frsize),
        padding: 0,
      },
    };
  }

  /** RELEASE and RELEASEDIR. */
  release(b: RequestBodies["RELEASE"]): void {
    const h = this.handles.get(b.fh);
    if ((b.release_flags & RELEASE.FUSE_RELEASE_FLOCK_UNLOCK) !== 0) {
      try {
        fs.flock(h.fd, fs.LOCK_UN);
      } catch { /* closing releases it anyway */ }
    }
    this.handles.release(b.fh);
    if (h.dir !== null && this.#spareDirBufs.length < SPARE_DIR_BUFS) {
      this.#spareDirBufs.push(h.dir.buf);
    }
    const backing = h.inode.backing;
    if (h.backing === true && backing) {
      // the kernel's file keeps its backing file; the id is only for later opens
      if (--backing.opens === 0) {
        this.#closeBacking(backing.id);
        h.inode.backing = undefined;
        this.#backed.delete(h.inode);
      }
    }
  }

  /** FSYNC and FSYNCDIR. */
  fsync(b: RequestBodies["FSYNC"]): void {
    const h = this.handles.get(b.fh);
    if ((b.fsync_flags & FSYNC.FUSE_FSYNC_FDATASYNC) !== 0) fs.fdatasync(h.fd);
    else fs.fsync(h.fd);
  }

  /** FLUSH: a close by `lock_owner` drops that owner's POSIX locks on the file. */
  flush(nodeid: bigint, b: RequestBodies["FLUSH"]): void {
    const h = this.handles.get(b.fh);
    const inode = this.inodes.get(nodeid);
    void h;
    const owner = inode.locks?.get(b.lock_owner);
    if (owner !== undefined) {
      inode.locks!.delete(b.lock_owner);
      fs.close(owner.fd);
    }
  }

  // ------------------------------------------------------------ xattrs

  #xattrOn(call: string): void {
    if (!this.#opts.xattr) fail(call, Errno.ENOSYS);
  }

  /** SETXATTR. */
  setxattr(nodeid: bigint, b: RequestBodies["SETXATTR"]): void {
    this.#xattrOn("setxattr");
    this.#writable("setxattr");
    const inode = this.inodes.get(nodeid);
    fs.setxattr(fs.procFdPath(inode.fd), b.name, { value: b.value, flags: b.flags });
  }

  /** GETXATTR: the size when asked with size 0, else the value (ERANGE when it does not fit). */
  getxattr(nodeid: bigint, b: RequestBodies["GETXATTR"]): XattrOut {
    this.#xattrOn("getxattr");
    const inode = this.inodes.get(nodeid);
    const path = fs.procFdPath(inode.fd);
    if (b.size === 0) return { size: fs.getxattr(path, b.name, new Uint8Array(0)), value: null };
    const buf = b.size <= this.#readBuf.length
      ? this.#readBuf.subarray(0, b.size)
      : new Uint8Array(b.size);
    const n = fs.getxattr(path, b.name, buf);
    return { size: n, value: buf.subarray(0, n) };
  }

  /** LISTXATTR: NUL-separated names; an empty list is 0 bytes. */
  listxattr(nodeid: bigint, b: RequestBodies["LISTXATTR"]): XattrOut {
    this.#xattrOn("listxattr");
    const inode = this.inodes.get(nodeid);
    const path = fs.procFdPath(inode.fd);
    if (b.size === 0) return { size: fs.listxattr(path, new Uint8Array(0)), value: null };
    const buf = b.size <= this.#readBuf.length
      ? this.#readBuf.subarray(0, b.size)
      : new Uint8Array(b.size);
    const n = fs.listxattr(path, buf);
    return { size: n, value: buf.subarray(0, n) };
  }

  /** REMOVEXATTR. */
  removexattr(nodeid: bigint, b: RequestBodies["REMOVEXATTR"]): void {
    this.#xattrOn("removexattr");
    this.#writable("removexattr");
    fs.removexattr(fs.procFdPath(this.inodes.get(nodeid).fd), b.name);
  }

  // ------------------------------------------------------------ directories

  /** OPENDIR. */
  opendir(nodeid: bigint): FuseOpenOut {
    const inode = this.#dir(nodeid);
    const fd = this.#opening(() =>
      fs.openat(inode.fd, ".", { flags: fs.O_RDONLY | fs.O_DIRECTORY })
    );
    return this.#openOut(this.handles.add(fd, inode, fs.O_RDONLY | fs.O_DIRECTORY), true);
  }

  /** The handle's host listing, made on its first READDIR (with a released one's buffer). */
  #dirStream(h: Handle): DirStream {
    let s = h.dir;
    if (s === null) {
      const buf = this.#spareDirBufs.pop() ?? new Uint8Array(DIR_STREAM_SIZE);
      s = {
        buf,
        view: new DataView(buf.buffer, buf.byteOffset, buf.byteLength),
        len: 0,
        at: 0,
        keyPrefix: devicePrefix(h.inode.key),
      };
      h.dir = s;
    }
    return s;
  }

  /** The reply scratch buffer, at least `size` bytes. */
  #dirReplyBuf(size: number): Uint8Array {
    if (this.#dirReply.length < size) {
      this.#dirReply = new Uint8Array(Math.max(size, 2 * this.#dirReply.length));
      this.#dirReplyView = new DataView(this.#dirReply.buffer);
    }
    return this.#dirReply;
  }

  /**
   * READDIR, or READDIRPLUS with `plus`, answered as the whole reply message
   * (fuse_out_header, then the records), written straight from the host's
   * linux_dirent64 records: no object per entry. Offsets are the host's
   * cookies (`d_off`), so a request at any offset this handle returned
   * resumes exactly there; entries that do not fit in `size` stay for the
   * next request, and the end of the directory is an empty list.
   * READDIRPLUS counts a lookup for every entry it returns with a node id;
   * `.` and `..`, and a name gone since the host listed it, carry node id 0
   * and are not counted. With `reuse` the reply is a view of a buffer the
   * next call overwrites; otherwise a fresh array.
   */
  readdirReply(b: ReadIn, unique: bigint, options: ReaddirReplyOptions = {}): Uint8Array {
    const h = this.handles.get(b.fh);
    const s = this.#dirStream(h);
    if (b.offset !== h.pos) {
      // seekdir: the fd's position is a cookie getdents64 gave (s64 on the host)
      fs.lseek(h.fd, BigInt.asIntN(64, b.offset), fs.SEEK_SET);
      s.len = s.at = 0;
      h.pos = b.offset;
    }
    const plus = options.plus === true;
    const head = plus ? ENTRY_OUT : 0;
    const limit = OUT_HEADER + Math.min(b.size, DIR_REPLY_MAX);
    const out = this.#dirReplyBuf(limit);
    const ov = this.#dirReplyView;
    const dirents = s.buf;
    const dv = s.view;
    let q = OUT_HEADER;
    let last = -1; // the last record taken from the current batch
    try {
      for (;;) {
        if (s.at >= s.len) {
          if (last >= 0) h.pos = dv.getBigUint64(last + 8, true);
          last = -1;
          s.len = s.at = 0;
          const n = fs.getdents64(h.fd, dirents);
          if (n === 0) break;
          s.len = n;
        }
        // linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, name, NUL
        const p = s.at;
        const reclen = dv.getUint16(p + 16, true);
        if (reclen < 20 || p + reclen > s.len) {
          s.at = s.len; // not a record the kernel writes: drop the rest of the batch
          continue;
        }
        let nameEnd = dirents.indexOf(0, p + 19);
        if (nameEnd < 0 || nameEnd > p + reclen) nameEnd = p + reclen;
        const namelen = nameEnd - p - 19;
        const size = (head + DIRENT_HEADER + namelen + 7) & ~7;
        if (q + size > limit) break;
        if (plus) this.#direntplusEntry(h.inode, s, p, namelen, q);
        // fuse_dirent: ino u64, off u64, namelen u32, type u32, name, zeros to 8
        const d = q + head;
        ov.setUint32(d, dv.getUint32(p, true), true);
        ov.setUint32(d + 4, dv.getUint32(p + 4, true), true);
        ov.setUint32(d + 8, dv.getUint32(p + 8, true), true);
        ov.setUint32(d + 12, dv.getUint32(p + 12, true), true);
        ov.setUint32(d + 16, namelen, true);
        ov.setUint32(d + 20, dirents[p + 18], true);
        const name = d + DIRENT_HEADER;
        for (let i = 0; i < namelen; i++) out[name + i] = dirents[p + 19 + i];
        for (let i = name + namelen; i < q + size; i++) out[i] = 0;
        q += size;
        s.at = p + reclen;
        last = p;
      }
      if (last >= 0) h.pos = dv.getBigUint64(last + 8, true);
    } catch (e) {
      // records may have been taken for a reply that is now an error: the
      // next request seeks, whatever its offset
      s.len = s.at = 0;
      h.pos = -1n;
      throw e;
    }
    // fuse_out_header: len, error 0, unique
    ov.setUint32(0, q, true);
    ov.setInt32(4, 0, true);
    ov.setBigUint64(8, unique, true);
    return options.reuse === true ? out.subarray(0, q) : out.slice(0, q);
  }

  /**
   * Writes at `o` of the reply the fuse_entry_out of the linux_dirent64
   * record at `p` of the stream `s`: a counted lookup of the name, or node id
   * 0 with only the inode number and type for `.`, `..` and a name that is
   * gone since the host listed it.
   */
  #direntplusEntry(parent: Inode, s: DirStream, p: number, namelen: number, o: number): void {
    const dirents = s.buf;
    const v = this.#dirReplyView;
    const dots = dirents[p + 19] === DOT &&
      (namelen === 1 || (namelen === 2 && dirents[p + 20] === DOT));
    if (!dots && this.#lookupDirent(parent, s, p, namelen, o)) return;
    // node id 0 (the kernel makes no dentry of it), zero timeouts, an attr
    // with nothing but the inode number and the type bits
    this.#dirReply.fill(0, o, o + ENTRY_OUT);
    v.setUint32(o + 40, s.view.getUint32(p, true), true);
    v.setUint32(o + 44, s.view.getUint32(p + 4, true), true);
    v.setUint32(o + 40 + 60, (dirents[p + 18] & 0xf) << 12, true);
  }

  /**
   * LOOKUP of the record at `p` for READDIRPLUS: counts it and writes its
   * fuse_entry_out at `o`; false when the name cannot be looked up (gone).
   */
  #lookupDirent(parent: Inode, s: DirStream, p: number, namelen: number, o: number): boolean {
    const name = s.buf.subarray(p + 19, p + 19 + namelen);
    const v = this.#dirReplyView;
    // An object the client already holds needs no new descriptor (open and
    // close are two thirds of a listing's cost): d_ino says which one it may
    // be, a stat of the name proves it and gives the attributes.
    const inoHigh = s.view.getUint32(p + 4, true);
    if (inoHigh < 0x200000) {
      const ino = inoHigh * 0x100000000 + s.view.getUint32(p, true);
      if (this.inodes.byKey(s.keyPrefix + ino) !== undefined) {
        let st: fs.Stat;
        try {
          st = fs.statx(parent.fd, name, STAT_NAME);
        } catch (e) {
          if (e instanceof SysError) return false;
          throw e;
        }
        const held = this.inodes.byKey(identity(st));
        if (held !== undefined) {
          held.nlookup++;
          this.#writeEntryOut(v, o, held.nodeid, st);
          return true;
        }
      }
    }
    const fd = this.#tryOpenPath(parent, name);
    if (fd < 0) return false;
    let st: fs.Stat;
    try {
      st = fs.fstat(fd);
    } catch (e) {
      fs.close(fd);
      if (e instanceof SysError) return false;
      throw e;
    }
    this.#writeEntryOut(v, o, this.inodes.intern(fd, st).nodeid, st);
    return true;
  }

  /**
   * fuse_entry_out (128 bytes: nodeid, generation, entry_valid, attr_valid,
   * their nanoseconds, then a 7.9+ fuse_attr) with the values
   * {@linkcode Passthrough.attr} and the LOOKUP reply give, without building them.
   */
  #writeEntryOut(v: DataView, o: number, nodeid: number, st: fs.Stat): void {
    setU64(v, o, nodeid);
    v.setBigUint64(o + 8, 0n, true);
    v.setBigUint64(o + 16, this.#entryValid, true);
    v.setBigUint64(o + 24, this.#attrValid, true);
    v.setUint32(o + 32, this.#entryValidNsec, true);
    v.setUint32(o + 36, this.#attrValidNsec, true);
    writeAttr(v, o + 40, st);
  }

  /**
   * GETATTR written at `o` of `v` as fuse_attr_out (attr_valid, its
   * nanoseconds, dummy, then a 7.9+ fuse_attr: 104 bytes) with the values
   * {@linkcode getattr} returns, without building them; throws what it throws.
   */
  getattrInto(v: DataView, o: number, nodeid: bigint, getattrFlags: number, fh: bigint): void {
    const st = fs.fstat(this.#getattrFd(nodeid, getattrFlags, fh));
    v.setBigUint64(o, this.#attrValid, true);
    v.setUint32(o + 8, this.#attrValidNsec, true);
    v.setUint32(o + 12, 0, true);
    writeAttr(v, o + 16, st);
  }

  /**
   * LOOKUP of a name other than `.` and `..` written at `o` of `v` as
   * fuse_entry_out (128 bytes), counting the lookup like {@linkcode lookup};
   * returns 0, or the errno of a name that cannot be opened (nothing written
   * then). Invalid names and parents throw, as in {@linkcode lookup}.
   */
  lookupInto(v: DataView, o: number, nodeid: bigint, name: Uint8Array): number {
    const parent = this.#dir(nodeid);
    checkName(name);
    const child = this.#internChild(parent, name);
    if (typeof child === "number") return child;
    this.#writeEntryOut(v, o, child.inode.nodeid, child.st);
    return 0;
  }

  /**
   * READDIR as a body: {@linkcode Passthrough.readdirReply} decoded, for
   * callers that want entries.
   */
  readdir(b: ReadIn): DirentList {
    const r = this.readdirReply(b, 0n);
    return new DirentList(new DataView(r.buffer), r, OUT_HEADER, r.length);
  }

  /**
   * READDIRPLUS as a body: {@linkcode Passthrough.readdirReply} decoded,
   * counting lookups as it does.
   */
  readdirplus(b: ReadIn): DirentplusList {
    const r = this.readdirReply(b, 0n, { plus: true });
    return new DirentplusList(new DataView(r.buffer), r, OUT_HEADER, r.length);
  }

  // ------------------------------------------------------------ locks

  #ownerFd(inode: Inode, owner: bigint, pid: number): number {
    if (inode.locks === null) inode.locks = new Map();
    let o = inode.locks.get(owner);
    if (o === undefined) {
      let fd: number;
      try {
        fd = fs.openat(fs.AT_FDCWD, fs.procFdPath(inode.fd), { flags: fs.O_RDWR });
      } catch {
        fd = fs.openat(fs.AT_FDCWD, fs.procFdPath(inode.fd), { flags: fs.O_RDONLY });
      }
      o = { fd, pid };
      inode.locks.set(owner, o);
    }
    if (pid !== 0) o.pid = pid;
    return o.fd;
  }

  #lockRange(lk: FuseFileLock): { start: bigint; len: bigint } {
    if (lk.start < 0n || lk.start > OFFSET_MAX) fail("lock", Errno.EINVAL);
    const len = lk.end >= FULL_LOCK_OFFSET ? 0n : lk.end - lk.start + 1n;
    if (len < 0n) fail("lock", Errno.EINVAL);
    return { start: lk.start, len };
  }

  /** GETLK: the conflicting lock, or F_UNLCK. */
  getlk(nodeid: bigint, b: LkIn): ReplyBodies["GETLK"] {
    const inode = this.inodes.get(nodeid);
    this.handles.get(b.fh);
    if (inode.type !== fs.S_IFREG) fail("getlk", Errno.EINVAL);
    const { start, len } = this.#lockRange(b.lk);
    const fd = this.#ownerFd(inode, b.owner, b.lk.pid);
    const got = fs.fcntlLock(fd, fs.F_OFD_GETLK, { type: b.lk.type, start, len, pid: 0 });
    if (got.type === fs.F_UNLCK) {
      return { lk: { start: 0n, end: 0n, type: fs.F_UNLCK, pid: 0 } };
    }
    let pid = got.pid > 0 ? got.pid : 0;
    if (pid === 0 && inode.locks !== null) {
      const others = [...inode.locks.entries()].filter(([k]) => k !== b.owner);
      if (others.length === 1) pid = others[0][1].pid;
    }
    const end = got.len === 0n ? OFFSET_MAX : got.start + got.len - 1n;
    return { lk: { start: got.start, end, type: got.type, pid } };
  }

  /**
   * SETLK (and one non-blocking attempt of SETLKW): throws EAGAIN on conflict.
   * BSD flock requests (FUSE_LK_FLOCK) lock the handle's descriptor.
   */
  setlk(nodeid: bigint, b: LkIn): void {
    const inode = this.inodes.get(nodeid);
    const h = this.handles.get(b.fh);
    if ((b.lk_flags & LK.FUSE_LK_FLOCK) !== 0) {
      const op = b.lk.type === fs.F_RDLCK
        ? fs.LOCK_SH
        : b.lk.type === fs.F_WRLCK
        ? fs.LOCK_EX
        : fs.LOCK_UN;
      try {
        fs.flock(h.fd, op === fs.LOCK_UN ? op : op | fs.LOCK_NB);
      } catch (e) {
        if (e instanceof SysError && e.errno === 11) fail("flock", Errno.EAGAIN);
        throw e;
      }
      return;
    }
    if (inode.type !== fs.S_IFREG) fail("setlk", Errno.EINVAL);
    const { start, len } = this.#lockRange(b.lk);
    if (b.lk.type === fs.F_UNLCK && inode.locks?.get(b.owner) === undefined) return;
    const fd = this.#ownerFd(inode, b.owner, b.lk.pid);
    try {
      fs.fcntlLock(fd, fs.F_OFD_SETLK, { type: b.lk.type, start, len, pid: 0 });
    } catch (e) {
      if (e instanceof SysError && (e.errno === 11 || e.errno === 13)) fail("setlk", Errno.EAGAIN);
      throw e;
    }
  }

  // ------------------------------------------------------------ the rest

  /** ACCESS, checked by the host as the caller. */
  access(nodeid: bigint, b: RequestBodies["ACCESS"], ctx: RequestContext): void {
    const inode = this.inodes.get(nodeid);
    if (b.mask === 0) return;
    if (this.#opts.readonly && (b.mask & 2) !== 0 && inode.type !== fs.S_IFLNK) {
      fail("access", Errno.EROFS);
    }
    this.#runAs(
      ctx,
      () =>
        fs.faccessat(inode.fd, "", {
          mode: b.mask & 7,
          flags: fs.AT_EMPTY_PATH | fs.AT_EACCESS,
        }),
    );
  }

  /** FALLOCATE. */
  fallocate(b: RequestBodies["FALLOCATE"]): void {
    this.#writable("fallocate");
    const h = this.handles.get(b.fh);
    fs.fallocate(h.fd, { mode: b.mode, offset: b.offset, length: b.length });
  }

  /** LSEEK (SEEK_DATA/SEEK_HOLE included). */
  lseek(b: RequestBodies["LSEEK"]): ReplyBodies["LSEEK"] {
    const h = this.handles.get(b.fh);
    return { offset: fs.lseek(h.fd, b.offset, b.whence) };
  }

  /** COPY_FILE_RANGE (and its 64-bit variant); returns the bytes copied. */
  copyFileRange(b: CopyFileRangeIn): number {
    this.#writable("copy_file_range");
    const hin = this.handles.get(b.fh_in);
    const hout = this.handles.get(b.fh_out);
    this.inodes.get(b.nodeid_out);
    const len = b.len > 0x7ffff000n ? 0x7ffff000 : Number(b.len);
    return fs.copyFileRange([hin.fd, b.off_in], [hout.fd, b.off_out], {
      length: len,
      flags: Number(b.flags),
    });
  }

  /** SYNCFS of the shared directory's file system. */
  syncfs(): void {
    const fd = fs.openat(this.inodes.root.fd, ".", { flags: fs.O_RDONLY | fs.O_DIRECTORY });
    try {
      fs.syncfs(fd);
    } finally {
      fs.close(fd);
    }
  }

  /** STATX (through the handle when FUSE_GETATTR_FH is set). */
  statx(nodeid: bigint, b: RequestBodies["STATX"]): ReplyBodies["STATX"] {
    const inode = this.inodes.get(nodeid);
    const fd = (b.getattr_flags & 1) !== 0 ? this.handles.get(b.fh).fd : inode.fd;
    const st = fs.statx(fd, "", {
      flags: fs.AT_EMPTY_PATH | fs.AT_SYMLINK_NOFOLLOW | (b.sx_flags & 0x6000),
      mask: (b.sx_mask | fs.STATX_BASIC_STATS) & 0xfff,
    });
    const [rmaj, rmin] = fs.splitdev(st.rdev);
    const [dmaj, dmin] = fs.splitdev(Number(st.dev));
    const stat: FuseStatx = {
      mask: st.mask,
      blksize: st.blksize,
      attributes: st.attributes,
      nlink: st.nlink,
      uid: st.uid,
      gid: st.gid,
      mode: st.mode,
      ino: st.ino,
      size: st.size,
      blocks: st.blocks,
      attributes_mask: 0n,
      atime: { tv_sec: BigInt(st.atimeSec), tv_nsec: st.atimeNsec },
      btime: { tv_sec: BigInt(st.btimeSec), tv_nsec: st.btimeNsec },
      ctime: { tv_sec: BigInt(st.ctimeSec), tv_nsec: st.ctimeNsec },
      mtime: { tv_sec: BigInt(st.mtimeSec), tv_nsec: st.mtimeNsec },
      rdev_major: rmaj,
      rdev_minor: rmin,
      dev_major: dmaj,
      dev_minor: dmin,
    };
    return { attr_valid: this.#attrValid, attr_valid_nsec: this.#attrValidNsec, flags: 0, stat };
  }
}

function sameGroups(a: ArrayLike<number> | undefined, b: readonly number[]): boolean {
  if (a === undefined) return b.length === 0;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

let fchmodat2Works = true;

/** chmod of the object an `O_PATH` descriptor holds: fchmodat2 (6.6+), else through /proc. */
function chmodPath(fd: number, mode: number): void {
  if (fchmodat2Works) {
    try {
      fs.fchmodat(fd, "", { mode, flags: fs.AT_EMPTY_PATH });
      return;
    } catch (e) {
      if (!(e instanceof SysError) || e.errno !== Errno.ENOSYS) throw e;
      fchmodat2Works = false;
    }
  }
  fs.fchmodat(fs.AT_FDCWD, fs.procFdPath(fd), { mode });
}
