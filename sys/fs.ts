/**
 * File system calls relative to directory file descriptors: the host side of
 * the passthrough engine. Every call is synchronous FFI on the calling thread
 * and throws a {@linkcode SysError} on failure (read `errno` from it). Paths
 * are `string` (UTF-8) or `Uint8Array` (raw bytes, no NUL), so names that are
 * not valid UTF-8 survive.
 *
 * Credentials: {@linkcode setfsuid}, {@linkcode setfsgid} and
 * {@linkcode setgroupsThread} change the calling thread only (raw system
 * calls; glibc's `setgroups` would change every thread of the process).
 *
 * @example
 * ```ts
 * import { AT_FDCWD, close, O_DIRECTORY, O_PATH, openat, statx } from "./fs.ts";
 * const fd = openat(AT_FDCWD, "/tmp", { flags: O_PATH | O_DIRECTORY });
 * console.log(statx(fd, "", { flags: 0x1000 }).mode.toString(8));
 * close(fd);
 * ```
 *
 * @module
 */
import { check, Errno, errno, openLibc, SysError } from "./libc.ts";

// ---------------------------------------------------------------- constants
// x86_64 Linux values (include/uapi/asm-generic/fcntl.h, linux/stat.h, ...).

/** `openat` flag. */
export const O_RDONLY = 0o0;
/** `openat` flag. */
export const O_WRONLY = 0o1;
/** `openat` flag. */
export const O_RDWR = 0o2;
/** `openat` access mode mask. */
export const O_ACCMODE = 0o3;
/** `openat` flag. */
export const O_CREAT = 0o100;
/** `openat` flag. */
export const O_EXCL = 0o200;
/** `openat` flag. */
export const O_NOCTTY = 0o400;
/** `openat` flag. */
export const O_TRUNC = 0o1000;
/** `openat` flag. */
export const O_APPEND = 0o2000;
/** `openat` flag. */
export const O_NONBLOCK = 0o4000;
/** `openat` flag. */
export const O_DSYNC = 0o10000;
/** `openat` flag. */
export const O_DIRECT = 0o40000;
/** `openat` flag. */
export const O_LARGEFILE = 0o100000;
/** `openat` flag. */
export const O_DIRECTORY = 0o200000;
/** `openat` flag. */
export const O_NOFOLLOW = 0o400000;
/** `openat` flag. */
export const O_NOATIME = 0o1000000;
/** `openat` flag. */
export const O_CLOEXEC = 0o2000000;
/** `openat` flag. */
export const O_SYNC = 0o4010000;
/** `openat` flag. */
export const O_PATH = 0o10000000;
/** `openat` flag (includes `O_DIRECTORY`). */
export const O_TMPFILE = 0o20200000;

/** The current directory as a `dirfd`. */
export const AT_FDCWD = -100;
/** `*at` flag: do not follow a final symlink. */
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** `unlinkat` flag: remove a directory. */
export const AT_REMOVEDIR = 0x200;
/** `linkat` flag: follow a final symlink. */
export const AT_SYMLINK_FOLLOW = 0x400;
/** `*at` flag: do not automount. */
export const AT_NO_AUTOMOUNT = 0x800;
/** `*at` flag: an empty path means `dirfd` itself. */
export const AT_EMPTY_PATH = 0x1000;
/** `faccessat` flag: check with the effective ids. */
export const AT_EACCESS = 0x200;

/** `openat2` resolve flag: no crossing of mount points. */
export const RESOLVE_NO_XDEV = 0x01;
/** `openat2` resolve flag: no `/proc` magic links. */
export const RESOLVE_NO_MAGICLINKS = 0x02;
/** `openat2` resolve flag: no symlinks at all. */
export const RESOLVE_NO_SYMLINKS = 0x04;
/** `openat2` resolve flag: stay beneath `dirfd` (`..` and absolute paths out are refused). */
export const RESOLVE_BENEATH = 0x08;
/** `openat2` resolve flag: treat `dirfd` as the root. */
export const RESOLVE_IN_ROOT = 0x10;

/** File type mask of `mode`. */
export const S_IFMT = 0o170000;
/** Socket. */
export const S_IFSOCK = 0o140000;
/** Symbolic link. */
export const S_IFLNK = 0o120000;
/** Regular file. */
export const S_IFREG = 0o100000;
/** Block device. */
export const S_IFBLK = 0o060000;
/** Directory. */
export const S_IFDIR = 0o040000;
/** Character device. */
export const S_IFCHR = 0o020000;
/** FIFO. */
export const S_IFIFO = 0o010000;
/** Set-user-id bit. */
export const S_ISUID = 0o4000;
/** Set-group-id bit. */
export const S_ISGID = 0o2000;
/** Group execute bit. */
export const S_IXGRP = 0o010;

/** `renameat2` flag: fail with EEXIST when the target exists. */
export const RENAME_NOREPLACE = 1;
/** `renameat2` flag: swap source and target atomically. */
export const RENAME_EXCHANGE = 2;
/** `renameat2` flag: leave a whiteout at the source. */
export const RENAME_WHITEOUT = 4;

/** `lseek` whence. */
export const SEEK_SET = 0;
/** `lseek` whence. */
export const SEEK_CUR = 1;
/** `lseek` whence. */
export const SEEK_END = 2;
/** `lseek` whence: next data at or after the offset. */
export const SEEK_DATA = 3;
/** `lseek` whence: next hole at or after the offset. */
export const SEEK_HOLE = 4;

/** `fallocate` mode. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
/** `fallocate` mode. */
export const FALLOC_FL_PUNCH_HOLE = 0x02;
/** `fallocate` mode. */
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** `fcntl` command: test an open-file-description lock. */
export const F_OFD_GETLK = 36;
/** `fcntl` command: set an open-file-description lock, failing with EAGAIN on conflict. */
export const F_OFD_SETLK = 37;
/** `fcntl` command: set an open-file-description lock, waiting. */
export const F_OFD_SETLKW = 38;
/** Lock type. */
export const F_RDLCK = 0;
/** Lock type. */
export const F_WRLCK = 1;
/** Lock type. */
export const F_UNLCK = 2;

/** `flock` operation. */
export const LOCK_SH = 1;
/** `flock` operation. */
export const LOCK_EX = 2;
/** `flock` operation: do not block. */
export const LOCK_NB = 4;
/** `flock` operation. */
export const LOCK_UN = 8;

/** `setxattr` flag: fail if the attribute exists. */
export const XATTR_CREATE = 1;
/** `setxattr` flag: fail if the attribute does not exist. */
export const XATTR_REPLACE = 2;

/** `utimensat` nanoseconds value meaning "now". */
export const UTIME_NOW = (1 << 30) - 1;
/** `utimensat` nanoseconds value meaning "leave unchanged". */
export const UTIME_OMIT = (1 << 30) - 2;

/** `statx` mask: the basic `stat` fields. */
export const STATX_BASIC_STATS = 0x7ff;
/** `statx` mask: birth time. */
export const STATX_BTIME = 0x800;
/** `statx` mask: mount id. */
export const STATX_MNT_ID = 0x1000;

// x86_64 system call numbers for calls glibc 2.36 does not wrap.
const SYS_setgroups = 116;
const SYS_getdents64 = 217;
const SYS_openat2 = 437;
const SYS_fchmodat2 = 452;

const lib = openLibc(
  {
    openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" },
    sys_openat2: {
      name: "syscall",
      parameters: ["i64", "i32", "buffer", "buffer", "usize"],
      result: "i64",
    },
    statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
    mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    mknodat: { parameters: ["i32", "buffer", "u32", "u64"], result: "i32" },
    unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    renameat2: { parameters: ["i32", "buffer", "i32", "buffer", "u32"], result: "i32" },
    linkat: { parameters: ["i32", "buffer", "i32", "buffer", "i32"], result: "i32" },
    symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
    readlinkat: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
    fchmodat: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
    sys_fchmodat2: {
      name: "syscall",
      parameters: ["i64", "i32", "buffer", "u32", "i32"],
      result: "i64",
    },
    fchmod: { parameters: ["i32", "u32"], result: "i32" },
    fchownat: { parameters: ["i32", "buffer", "u32", "u32", "i32"], result: "i32" },
    utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
    futimens: { parameters: ["i32", "buffer"], result: "i32" },
    ftruncate: { parameters: ["i32", "i64"], result: "i32" },
    truncate: { parameters: ["buffer", "i64"], result: "i32" },
    pread: { name: "pread64", parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
    pwrite: { name: "pwrite64", parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    preadv: { parameters: ["i32", "buffer", "i32", "i64"], result: "isize" },
    pwritev: { parameters: ["i32", "buffer", "i32", "i64"], result: "isize" },
    fallocate: { parameters: ["i32", "i32", "i64", "i64"], result: "i32" },
    lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
    copy_file_range: {
      parameters: ["i32", "buffer", "i32", "buffer", "usize", "u32"],
      result: "isize",
    },
    fsync: { parameters: ["i32"], result: "i32" },
    fdatasync: { parameters: ["i32"], result: "i32" },
    syncfs: { parameters: ["i32"], result: "i32" },
    fstatvfs: { parameters: ["i32", "buffer"], result: "i32" },
    fstatfs: { parameters: ["i32", "buffer"], result: "i32" },
    getxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
    setxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
    listxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
    removexattr: { parameters: ["buffer", "buffer"], result: "i32" },
    fgetxattr: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
    fsetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "i32"], result: "i32" },
    flistxattr: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    fremovexattr: { parameters: ["i32", "buffer"], result: "i32" },
    fcntl_lock: { name: "fcntl", parameters: ["i32", "i32", "buffer"], result: "i32" },
    fcntl_int: { name: "fcntl", parameters: ["i32", "i32", "i64"], result: "i32" },
    flock: { parameters: ["i32", "i32"], result: "i32" },
    sys_getdents64: {
      name: "syscall",
      parameters: ["i64", "i32", "buffer", "usize"],
      result: "i64",
    },
    close: { parameters: ["i32"], result: "i32" },
    dup: { parameters: ["i32"], result: "i32" },
    name_to_handle_at: {
      parameters: ["i32", "buffer", "buffer", "buffer", "i32"],
      result: "i32",
    },
    open_by_handle_at: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    setfsuid: { parameters: ["u32"], result: "i32" },
    setfsgid: { parameters: ["u32"], result: "i32" },
    sys_setgroups: {
      name: "syscall",
      parameters: ["i64", "usize", "buffer"],
      result: "i64",
    },
    getgroups: { parameters: ["i32", "buffer"], result: "i32" },
    umask: { parameters: ["u32"], result: "u32" },
    faccessat: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
    ioctl_buf: { name: "ioctl", parameters: ["i32", "u64", "buffer"], result: "i32" },
  } as const,
);

// ---------------------------------------------------------------- paths

/** A path: UTF-8 text or raw bytes (without the terminating NUL). */
export type PathLike = string | Uint8Array;

const encoder = new TextEncoder();
// Two scratch buffers: calls take at most two paths; FFI calls are synchronous
// on this thread, so reuse is safe.
const scratchA = new Uint8Array(4097 * 4);
const scratchB = new Uint8Array(4097 * 4);
const scratchC = new Uint8Array(4097 * 4);

// "" (a descriptor's own object, with AT_EMPTY_PATH) is the most common path
const EMPTY_PATH = new Uint8Array(1);

function cpath(p: PathLike, scratch: Uint8Array): Uint8Array {
  if (typeof p === "string") {
    if (p.length === 0) return EMPTY_PATH;
    if (p.length * 3 + 1 > scratch.length) {
      const b = encoder.encode(p + "\0");
      if (b.indexOf(0) !== b.length - 1) throw new SysError("path", Errno.EINVAL, "contains NUL");
      return b;
    }
    const { written } = encoder.encodeInto(p, scratch);
    if (scratch.subarray(0, written).indexOf(0) !== -1) {
      throw new SysError("path", Errno.EINVAL, "contains NUL");
    }
    scratch[written] = 0;
    return scratch;
  }
  if (p.indexOf(0) !== -1) throw new SysError("path", Errno.EINVAL, "contains NUL");
  if (p.length + 1 > scratch.length) {
    const b = new Uint8Array(p.length + 1);
    b.set(p);
    return b;
  }
  scratch.set(p);
  scratch[p.length] = 0;
  return scratch;
}

/**
 * A 64-bit FFI argument as a BigInt: V8's fast call path takes only BigInts
 * for 64-bit parameters, and a number falls back to the slow path (pread of
 * 4 KiB measured 464 ns with a number, 267 ns with a BigInt).
 */
function w(n: number | bigint): bigint {
  return typeof n === "bigint" ? n : BigInt(n);
}

function num(v: number | bigint): number {
  return typeof v === "bigint" ? Number(v) : v;
}

// glibc's syscall() returns -1 and sets errno like any wrapper.
function checkSys(call: string, r: number | bigint): number {
  return check(call, num(r));
}

// ---------------------------------------------------------------- open / close

/** Options of {@linkcode openat}. */
export interface OpenOptions {
  /** `O_*` flags; `O_CLOEXEC` is always added. */
  flags?: number;
  /** Mode for `O_CREAT`/`O_TMPFILE`. */
  mode?: number;
}

/** `openat(2)`: opens `path` relative to `dirfd`; returns the new descriptor. */
export function openat(dirfd: number, path: PathLike, options: OpenOptions = {}): number {
  return check(
    "openat",
    lib.openat(dirfd, cpath(path, scratchA), (options.flags ?? 0) | O_CLOEXEC, options.mode ?? 0),
  );
}

/**
 * {@linkcode openat} for paths where failing is common (a LOOKUP of a missing
 * name): returns the new descriptor, or the negated errno instead of throwing.
 */
export function tryOpenat(dirfd: number, path: PathLike, options: OpenOptions = {}): number {
  const fd = lib.openat(
    dirfd,
    cpath(path, scratchA),
    (options.flags ?? 0) | O_CLOEXEC,
    options.mode ?? 0,
  );
  return fd >= 0 ? fd : -errno();
}

/** Options of {@linkcode openat2}. */
export interface Openat2Options extends OpenOptions {
  /** `RESOLVE_*` flags. */
  resolve?: number;
}

const openHow = new Uint8Array(24);
const openHowView = new DataView(openHow.buffer);

/** `openat2(2)`: like {@linkcode openat} with `RESOLVE_*` restrictions on the walk. */
export function openat2(dirfd: number, path: PathLike, options: Openat2Options = {}): number {
  openHowView.setBigUint64(0, BigInt((options.flags ?? 0) | O_CLOEXEC), true);
  openHowView.setBigUint64(8, BigInt(options.mode ?? 0), true);
  openHowView.setBigUint64(16, BigInt(options.resolve ?? 0), true);
  return checkSys(
    "openat2",
    lib.sys_openat2(w(SYS_openat2), dirfd, cpath(path, scratchA), openHow, w(24)),
  );
}

/** `close(2)`. */
export function close(fd: number): void {
  check("close", lib.close(fd));
}

/** `dup(2)` (the copy is close-on-exec only if the caller sets it). */
export function dup(fd: number): number {
  return check("dup", lib.dup(fd));
}

// ---------------------------------------------------------------- file handles

/** `MAX_HANDLE_SZ`: the largest `f_handle` any file system writes. */
const MAX_HANDLE_SZ = 128;
const handleBuf = new Uint8Array(8 + MAX_HANDLE_SZ);
const handleView = new DataView(handleBuf.buffer);
const mountIdBuf = new Int32Array(1);

/**
 * `name_to_handle_at(2)` of the object `fd` refers to (`AT_EMPTY_PATH`): its
 * `struct file_handle` (bytes, type, then the opaque handle), which
 * {@linkcode openByHandleAt} turns back into a descriptor as long as the
 * object exists. Throws EOPNOTSUPP on file systems that cannot export.
 */
export function nameToHandleAt(fd: number): Uint8Array {
  handleView.setUint32(0, MAX_HANDLE_SZ, true);
  check(
    "name_to_handle_at",
    lib.name_to_handle_at(fd, EMPTY_PATH, handleBuf, mountIdBuf, AT_EMPTY_PATH),
  );
  return handleBuf.slice(0, 8 + handleView.getUint32(0, true));
}

/**
 * `open_by_handle_at(2)`: a new descriptor for the object `handle` (from
 * {@linkcode nameToHandleAt}) names on the file system `mountFd` is on.
 * Needs CAP_DAC_READ_SEARCH; ESTALE once the object is gone.
 */
export function openByHandleAt(mountFd: number, handle: Uint8Array, flags: number): number {
  return check("open_by_handle_at", lib.open_by_handle_at(mountFd, handle, flags | O_CLOEXEC));
}

const RLIMIT_NOFILE = 7;

/** The soft limit on open descriptors (`getrlimit(RLIMIT_NOFILE)`; unlimited reads as 2^31-1). */
export function openFileLimit(): number {
  const limits = new BigUint64Array(2); // soft, hard
  check("getrlimit", lib.getrlimit(RLIMIT_NOFILE, limits));
  return limits[0] > 0x7fffffffn ? 0x7fffffff : Number(limits[0]);
}

// ---------------------------------------------------------------- stat

/** What `statx` reports about a file (times split in seconds and nanoseconds). */
export interface Stat {
  /** Device of the file system holding the file (`makedev(major, minor)`). */
  dev: bigint;
  /** Inode number. */
  ino: bigint;
  /** Type and permission bits. */
  mode: number;
  /** Hard link count. */
  nlink: number;
  /** Owner. */
  uid: number;
  /** Group. */
  gid: number;
  /** Device number for device files (`makedev(major, minor)`). */
  rdev: number;
  /** Size in bytes. */
  size: bigint;
  /** Preferred I/O block size. */
  blksize: number;
  /** Allocated 512-byte blocks. */
  blocks: bigint;
  /** Access time, seconds. */
  atimeSec: number;
  /** Access time, nanoseconds. */
  atimeNsec: number;
  /** Modification time, seconds. */
  mtimeSec: number;
  /** Modification time, nanoseconds. */
  mtimeNsec: number;
  /** Status change time, seconds. */
  ctimeSec: number;
  /** Status change time, nanoseconds. */
  ctimeNsec: number;
  /** Birth time, seconds (0 when unknown). */
  btimeSec: number;
  /** Birth time, nanoseconds. */
  btimeNsec: number;
  /** Which fields the file system filled (`STATX_*`). */
  mask: number;
  /** `STATX_ATTR_*` attributes. */
  attributes: bigint;
  /** Mount id (when `STATX_MNT_ID` was asked). */
  mntId: bigint;
}

/** Size of `struct statx`. */
export const STATX_SIZE = 256;
const statxBuf = new Uint8Array(STATX_SIZE);
const statxView = new DataView(statxBuf.buffer);

/** Encodes a device number the glibc way (`makedev`). */
export function makedev(major: number, minor: number): number {
  // Fits in 2^53 for majors below 2^21; Linux majors are 12 bits.
  return ((major & 0xfff) * 256 + (minor & 0xff)) + (minor >>> 8) * 0x100000 +
    Math.floor(major / 0x1000) * 0x100000000000;
}

/** Splits a `makedev` device number into `[major, minor]`. */
export function splitdev(dev: number): [number, number] {
  const lo = dev % 0x100000000;
  const hi = Math.floor(dev / 0x100000000);
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return [major >>> 0, minor >>> 0];
}

/** A signed 64-bit seconds field as a number, without a BigInt (exact below 2^53). */
function seconds(v: DataView, offset: number): number {
  return v.getInt32(offset + 4, true) * 0x100000000 + v.getUint32(offset, true);
}

/** Decodes a `struct statx` (256 bytes) already filled by the kernel. */
export function decodeStatx(v: DataView): Stat {
  const devMajor = v.getUint32(136, true);
  const devMinor = v.getUint32(140, true);
  return {
    mask: v.getUint32(0, true),
    blksize: v.getUint32(4, true),
    attributes: v.getBigUint64(8, true),
    nlink: v.getUint32(16, true),
    uid: v.getUint32(20, true),
    gid: v.getUint32(24, true),
    mode: v.getUint16(28, true),
    ino: v.getBigUint64(32, true),
    size: v.getBigUint64(40, true),
    blocks: v.getBigUint64(48, true),
    atimeSec: seconds(v, 64),
    atimeNsec: v.getUint32(72, true),
    btimeSec: seconds(v, 80),
    btimeNsec: v.getUint32(88, true),
    ctimeSec: seconds(v, 96),
    ctimeNsec: v.getUint32(104, true),
    mtimeSec: seconds(v, 112),
    mtimeNsec: v.getUint32(120, true),
    rdev: makedev(v.getUint32(128, true), v.getUint32(132, true)),
    dev: BigInt(makedev(devMajor, devMinor)),
    mntId: v.getBigUint64(144, true),
  };
}

/** Options of {@linkcode statx}. */
export interface StatxOptions {
  /** `AT_*` flags (`AT_EMPTY_PATH`, `AT_SYMLINK_NOFOLLOW`). */
  flags?: number;
  /** `STATX_*` mask; the basic fields by default. */
  mask?: number;
}

/** `statx(2)`: the attributes of `path` relative to `dirfd`. */
export function statx(dirfd: number, path: PathLike, options: StatxOptions = {}): Stat {
  check(
    "statx",
    lib.statx(
      dirfd,
      cpath(path, scratchA),
      options.flags ?? 0,
      options.mask ?? STATX_BASIC_STATS,
      statxBuf,
    ),
  );
  return decodeStatx(statxView);
}

/** The attributes of the object `fd` refers to (an `O_PATH` descriptor works; symlinks are not followed). */
export function fstat(fd: number, options: { mask?: number } = {}): Stat {
  return statx(fd, "", {
    flags: AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
    mask: options.mask ?? STATX_BASIC_STATS,
  });
}

// ---------------------------------------------------------------- create / remove

/** `mkdirat(2)`. */
export function mkdirat(dirfd: number, path: PathLike, options: { mode?: number } = {}): void {
  check("mkdirat", lib.mkdirat(dirfd, cpath(path, scratchA), options.mode ?? 0o777));
}

/** `mknodat(2)`: `mode` includes the file type; `dev` is `makedev(major, minor)`. */
export function mknodat(
  dirfd: number,
  path: PathLike,
  options: { mode: number; dev?: number },
): void {
  check(
    "mknodat",
    lib.mknodat(dirfd, cpath(path, scratchA), options.mode, w(options.dev ?? 0)),
  );
}

/** `unlinkat(2)` (`AT_REMOVEDIR` in `flags` removes a directory). */
export function unlinkat(dirfd: number, path: PathLike, options: { flags?: number } = {}): void {
  check("unlinkat", lib.unlinkat(dirfd, cpath(path, scratchA), options.flags ?? 0));
}

/** A path relative to a directory descriptor, for calls that take two. */
export type At = readonly [dirfd: number, path: PathLike];

/** `renameat2(2)` from `from` to `to` (`RENAME_*` flags). */
export function renameat2(from: At, to: At, options: { flags?: number } = {}): void {
  check(
    "renameat2",
    lib.renameat2(
      from[0],
      cpath(from[1], scratchA),
      to[0],
      cpath(to[1], scratchB),
      options.flags ?? 0,
    ),
  );
}

/** `linkat(2)`: a new name `to` for `from` (`AT_EMPTY_PATH` links the descriptor itself). */
export function linkat(from: At, to: At, options: { flags?: number } = {}): void {
  check(
    "linkat",
    lib.linkat(
      from[0],
      cpath(from[1], scratchA),
      to[0],
      cpath(to[1], scratchB),
      options.flags ?? 0,
    ),
  );
}

/** `symlinkat(2)`: creates `to` as a symlink whose content is `target`. */
export function symlinkat(target: PathLike, to: At): void {
  check("symlinkat", lib.symlinkat(cpath(target, scratchC), to[0], cpath(to[1], scratchA)));
}

const linkBuf = new Uint8Array(4096);

/** `readlinkat(2)`: the raw bytes of the symlink (use `""` with an `O_PATH` descriptor of it). */
export function readlinkat(dirfd: number, path: PathLike): Uint8Array {
  const n = num(lib.readlinkat(dirfd, cpath(path, scratchA), linkBuf, w(linkBuf.length)));
  check("readlinkat", n);
  return linkBuf.slice(0, n);
}

// ---------------------------------------------------------------- attributes

/** `fchmodat(2)`; with `AT_EMPTY_PATH` or `AT_SYMLINK_NOFOLLOW` it uses `fchmodat2` (Linux 6.6). */
export function fchmodat(
  dirfd: number,
  path: PathLike,
  options: { mode: number; flags?: number },
): void {
  const flags = options.flags ?? 0;
  if (flags === 0) {
    check("fchmodat", lib.fchmodat(dirfd, cpath(path, scratchA), options.mode, 0));
    return;
  }
  checkSys(
    "fchmodat2",
    lib.sys_fchmodat2(w(SYS_fchmodat2), dirfd, cpath(path, scratchA), options.mode, flags),
  );
}

/** `fchmod(2)`. */
export function fchmod(fd: number, mode: number): void {
  check("fchmod", lib.fchmod(fd, mode));
}

/** `fchownat(2)`; -1 (the default) leaves the uid or gid unchanged. */
export function fchownat(
  dirfd: number,
  path: PathLike,
  options: { uid?: number; gid?: number; flags?: number },
): void {
  check(
    "fchownat",
    lib.fchownat(
      dirfd,
      cpath(path, scratchA),
      (options.uid ?? -1) >>> 0,
      (options.gid ?? -1) >>> 0,
      options.flags ?? 0,
    ),
  );
}

/** A time for {@linkcode utimensat}: seconds and nanoseconds, `"now"` or `"omit"`. */
export type TimeSpec = { sec: number; nsec: number } | "now" | "omit";

const timesBuf = new Uint8Array(32);
const timesView = new DataView(timesBuf.buffer);

function putTime(off: number, t: TimeSpec | undefined): void {
  if (t === undefined || t === "omit") {
    timesView.setBigInt64(off, 0n, true);
    timesView.setBigInt64(off + 8, BigInt(UTIME_OMIT), true);
  } else if (t === "now") {
    timesView.setBigInt64(off, 0n, true);
    timesView.setBigInt64(off + 8, BigInt(UTIME_NOW), true);
  } else {
    timesView.setBigInt64(off, BigInt(t.sec), true);
    timesView.setBigInt64(off + 8, BigInt(t.nsec), true);
  }
}

/** `utimensat(2)`: sets access and modification times (missing ones are left alone). */
export function utimensat(
  dirfd: number,
  path: PathLike,
  options: { atime?: TimeSpec; mtime?: TimeSpec; flags?: number },
): void {
  putTime(0, options.atime);
  putTime(16, options.mtime);
  check("utimensat", lib.utimensat(dirfd, cpath(path, scratchA), timesBuf, options.flags ?? 0));
}

/** `futimens(3)` on an open (not `O_PATH`) descriptor. */
export function futimens(fd: number, options: { atime?: TimeSpec; mtime?: TimeSpec }): void {
  putTime(0, options.atime);
  putTime(16, options.mtime);
  check("futimens", lib.futimens(fd, timesBuf));
}

/** `ftruncate(2)`. */
export function ftruncate(fd: number, length: number | bigint): void {
  check("ftruncate", lib.ftruncate(fd, w(length)));
}

/** `truncate(2)` (follows symlinks; used on `/proc/self/fd/N`). */
export function truncate(path: PathLike, length: number | bigint): void {
  check("truncate", lib.truncate(cpath(path, scratchA), w(length)));
}

/** `faccessat(2)`: throws EACCES (or another errno) when `mode` (R_OK=4, W_OK=2, X_OK=1) is denied. */
export function faccessat(
  dirfd: number,
  path: PathLike,
  options: { mode: number; flags?: number },
): void {
  check("faccessat", lib.faccessat(dirfd, cpath(path, scratchA), options.mode, options.flags ?? 0));
}

// ---------------------------------------------------------------- data

/** `pread(2)` into `buf` at `offset`; returns the bytes read. */
export function pread(fd: number, buf: Uint8Array, offset: number | bigint): number {
  const n = num(lib.pread(fd, buf, w(buf.length), w(offset)));
  return check("pread", n);
}

/** `pwrite(2)` of `buf` at `offset`; returns the bytes written. */
export function pwrite(fd: number, buf: Uint8Array, offset: number | bigint): number {
  const n = num(lib.pwrite(fd, buf, w(buf.length), w(offset)));
  return check("pwrite", n);
}

/**
 * `preadv(2)`: reads at `offset` into the `count` buffers that `iov` lists
 * as packed `struct iovec`s (u64 address, u64 length; see
 * {@linkcode IoVecList}); returns the bytes read.
 */
export function preadv(
  fd: number,
  iov: Uint8Array,
  count: number,
  offset: number | bigint,
): number {
  return check("preadv", num(lib.preadv(fd, iov, count, w(offset))));
}

/** `pwritev(2)`: writes at `offset` the `count` buffers `iov` lists; returns the bytes written. */
export function pwritev(
  fd: number,
  iov: Uint8Array,
  count: number,
  offset: number | bigint,
): number {
  return check("pwritev", num(lib.pwritev(fd, iov, count, w(offset))));
}

/** Most buffers one `preadv`/`pwritev` takes (IOV_MAX). */
export const IOV_MAX = 1024;

/**
 * A reusable list of (address, length) buffers packed as `struct iovec`s
 * for {@linkcode preadv} and {@linkcode pwritev}: memory this process maps
 * (guest memory, say) read or written in place.
 */
export class IoVecList {
  /** The packed entries (pass to preadv/pwritev). */
  readonly bytes: Uint8Array;
  readonly #words: Uint32Array;
  /** Entries added since {@linkcode IoVecList.clear}. */
  count = 0;
  /** Their total length. */
  length = 0;

  /**
   * An empty list, its entries in `store` when given (a SharedArrayBuffer of
   * at least IOV_MAX * 16 bytes lets another thread read them).
   */
  constructor(store?: ArrayBufferLike) {
    const buffer = store ?? new ArrayBuffer(IOV_MAX * 16);
    if (buffer.byteLength < IOV_MAX * 16) {
      throw new RangeError(`an iovec store needs ${IOV_MAX * 16} bytes, got ${buffer.byteLength}`);
    }
    this.bytes = new Uint8Array(buffer, 0, IOV_MAX * 16);
    this.#words = new Uint32Array(buffer, 0, IOV_MAX * 4);
  }

  /** Empties the list. */
  clear(): void {
    this.count = 0;
    this.length = 0;
  }

  /** Adds `len` bytes at `address`; false when the list is full. */
  add(address: number, len: number): boolean {
    if (this.count === IOV_MAX) return false;
    const i = this.count * 4;
    this.#words[i] = address % 0x1_0000_0000;
    this.#words[i + 1] = Math.floor(address / 0x1_0000_0000);
    this.#words[i + 2] = len;
    this.#words[i + 3] = 0;
    this.count++;
    this.length += len;
    return true;
  }

  /**
   * Adds `len` bytes at `address` like {@linkcode IoVecList.add}, but
   * extends the last entry instead when the buffer starts where that entry
   * ends and the merged entry stays within `maxRun` bytes (and below 4 GiB):
   * a Linux guest's 1 MiB page-cache WRITE arrives as 256 page descriptors
   * that are one run in memory, and the kernel then copies in one iovec
   * instead of reading 4 KiB of them.
   */
  addAdjacent(address: number, len: number, maxRun: number): boolean {
    const c = this.count;
    if (c > 0) {
      const w = this.#words;
      const i = (c - 1) * 4;
      const last = w[i + 2];
      if (last + len <= maxRun && last + len <= 0xffff_ffff) {
        const end = w[i] + w[i + 1] * 0x1_0000_0000 + last;
        if (end === address) {
          w[i + 2] = last + len;
          this.length += len;
          return true;
        }
      }
    }
    return this.add(address, len);
  }

  /** The length of entry `i`. */
  lengthAt(i: number): number {
    return this.#words[i * 4 + 2];
  }

  /**
   * `preadv(2)` of `fd` at `offset` into the listed buffers; returns the
   * bytes read. Subclasses may spread a large read over threads.
   */
  readAt(fd: number, offset: number | bigint): number {
    return preadv(fd, this.bytes, this.count, offset);
  }
}

/** `write(2)` at the descriptor's position (how `O_APPEND` writes are done). */
export function write(fd: number, buf: Uint8Array): number {
  const n = num(lib.write(fd, buf, w(buf.length)));
  return check("write", n);
}

/**
 * A zero-filled buffer of `size` bytes whose first byte sits at a multiple of
 * `alignment` in memory (a power of two, 4096 by default): what `O_DIRECT`
 * reads and writes need. The backing store of a large ArrayBuffer does not
 * move, so the alignment holds for the buffer's life.
 */
export function alignedBytes(size: number, alignment = 4096): Uint8Array {
  const raw = new Uint8Array(size + alignment);
  const skip = (alignment - addressOf(raw) % alignment) % alignment;
  return raw.subarray(skip, skip + size);
}

/** Whether the first byte of `bytes` sits at a multiple of `alignment` (a power of two) in memory. */
export function isAligned(bytes: Uint8Array, alignment = 4096): boolean {
  return addressOf(bytes) % alignment === 0;
}

function addressOf(bytes: Uint8Array): number {
  if (bytes.byteLength === 0) return 0;
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/** `fallocate(2)`. */
export function fallocate(
  fd: number,
  options: { mode?: number; offset: number | bigint; length: number | bigint },
): void {
  check(
    "fallocate",
    lib.fallocate(fd, options.mode ?? 0, w(options.offset), w(options.length)),
  );
}

/** `lseek(2)`; returns the new offset. */
export function lseek(fd: number, offset: number | bigint, whence: number): bigint {
  const r = lib.lseek(fd, w(offset), whence);
  const b = typeof r === "bigint" ? r : BigInt(r);
  if (b < 0n) check("lseek", -1);
  return b;
}

const cfrOffIn = new BigInt64Array(1);
const cfrOffOut = new BigInt64Array(1);

/** `copy_file_range(2)` between `[fd, offset]` pairs; returns the bytes copied. */
export function copyFileRange(
  from: readonly [fd: number, offset: number | bigint],
  to: readonly [fd: number, offset: number | bigint],
  options: { length: number; flags?: number },
): number {
  cfrOffIn[0] = BigInt(from[1]);
  cfrOffOut[0] = BigInt(to[1]);
  const n = num(
    lib.copy_file_range(
      from[0],
      new Uint8Array(cfrOffIn.buffer),
      to[0],
      new Uint8Array(cfrOffOut.buffer),
      w(options.length),
      options.flags ?? 0,
    ),
  );
  return check("copy_file_range", n);
}

/** `fsync(2)`. */
export function fsync(fd: number): void {
  check("fsync", lib.fsync(fd));
}

/** `fdatasync(2)`. */
export function fdatasync(fd: number): void {
  check("fdatasync", lib.fdatasync(fd));
}

/** `syncfs(2)`. */
export function syncfs(fd: number): void {
  check("syncfs", lib.syncfs(fd));
}

/** `f_type` of `fstatfs(2)` for tmpfs (linux/magic.h), which keeps files in memory. */
export const TMPFS_MAGIC = 0x01021994;

/** The file system type (`f_type` of `fstatfs(2)`, a magic number of linux/magic.h) of `fd`. */
export function fstatfsType(fd: number): number {
  // struct statfs on x86_64: f_type is the first field, a long; the struct is 120 bytes
  const buf = new Uint8Array(120);
  check("fstatfs", lib.fstatfs(fd, buf));
  return Number(new DataView(buf.buffer).getBigInt64(0, true));
}

/** What `fstatvfs` reports. */
export interface StatVfs {
  /** Block size. */
  bsize: bigint;
  /** Fragment size. */
  frsize: bigint;
  /** Blocks (in `frsize` units). */
  blocks: bigint;
  /** Free blocks. */
  bfree: bigint;
  /** Free blocks for unprivileged users. */
  bavail: bigint;
  /** Inodes. */
  files: bigint;
  /** Free inodes. */
  ffree: bigint;
  /** Free inodes for unprivileged users. */
  favail: bigint;
  /** File system id. */
  fsid: bigint;
  /** Mount flags (`ST_RDONLY` = 1, ...). */
  flag: bigint;
  /** Longest name. */
  namemax: bigint;
}

const statvfsBuf = new Uint8Array(112);
const statvfsView = new DataView(statvfsBuf.buffer);

/** `fstatvfs(3)` (an `O_PATH` descriptor works). */
export function fstatvfs(fd: number): StatVfs {
  check("fstatvfs", lib.fstatvfs(fd, statvfsBuf));
  const g = (o: number) => statvfsView.getBigUint64(o, true);
  return {
    bsize: g(0),
    frsize: g(8),
    blocks: g(16),
    bfree: g(24),
    bavail: g(32),
    files: g(40),
    ffree: g(48),
    favail: g(56),
    fsid: g(64),
    flag: g(72),
    namemax: g(80),
  };
}

// ---------------------------------------------------------------- xattrs

/**
 * `getxattr(2)` (follows symlinks; the engine uses it on `/proc/self/fd/N`)
 * into `buf`; with an empty `buf` it returns the size needed.
 */
export function getxattr(path: PathLike, name: PathLike, buf: Uint8Array): number {
  const n = num(lib.getxattr(cpath(path, scratchA), cpath(name, scratchB), buf, w(buf.length)));
  return check("getxattr", n);
}

/** `setxattr(2)` (`XATTR_CREATE`/`XATTR_REPLACE` flags). */
export function setxattr(
  path: PathLike,
  name: PathLike,
  options: { value: Uint8Array; flags?: number },
): void {
  check(
    "setxattr",
    lib.setxattr(
      cpath(path, scratchA),
      cpath(name, scratchB),
      options.value,
      w(options.value.length),
      options.flags ?? 0,
    ),
  );
}

/** `listxattr(2)` into `buf` (NUL-separated names); with an empty `buf` it returns the size needed. */
export function listxattr(path: PathLike, buf: Uint8Array): number {
  const n = num(lib.listxattr(cpath(path, scratchA), buf, w(buf.length)));
  return check("listxattr", n);
}

/** `removexattr(2)`. */
export function removexattr(path: PathLike, name: PathLike): void {
  check("removexattr", lib.removexattr(cpath(path, scratchA), cpath(name, scratchB)));
}

/** `fgetxattr(2)` on an open (not `O_PATH`) descriptor. */
export function fgetxattr(fd: number, name: PathLike, buf: Uint8Array): number {
  const n = num(lib.fgetxattr(fd, cpath(name, scratchB), buf, w(buf.length)));
  return check("fgetxattr", n);
}

/** `fsetxattr(2)` on an open descriptor. */
export function fsetxattr(
  fd: number,
  name: PathLike,
  options: { value: Uint8Array; flags?: number },
): void {
  check(
    "fsetxattr",
    lib.fsetxattr(
      fd,
      cpath(name, scratchB),
      options.value,
      w(options.value.length),
      options.flags ?? 0,
    ),
  );
}

/** `flistxattr(2)` on an open descriptor. */
export function flistxattr(fd: number, buf: Uint8Array): number {
  const n = num(lib.flistxattr(fd, buf, w(buf.length)));
  return check("flistxattr", n);
}

/** `fremovexattr(2)` on an open descriptor. */
export function fremovexattr(fd: number, name: PathLike): void {
  check("fremovexattr", lib.fremovexattr(fd, cpath(name, scratchB)));
}

// ---------------------------------------------------------------- locks

/** A POSIX record lock (`struct flock`). */
export interface Flock {
  /** `F_RDLCK`, `F_WRLCK` or `F_UNLCK`. */
  type: number;
  /** Start offset. */
  start: bigint;
  /** Length; 0 means to the end of the file. */
  len: bigint;
  /** Holder's pid (`-1` for open-file-description locks). */
  pid: number;
}

const flockBuf = new Uint8Array(32);
const flockView = new DataView(flockBuf.buffer);

/**
 * `fcntl(2)` with a lock command (`F_OFD_GETLK`, `F_OFD_SETLK`,
 * `F_OFD_SETLKW`); returns the lock as the kernel left it (for GETLK, the
 * conflicting lock or `F_UNLCK`).
 */
export function fcntlLock(fd: number, cmd: number, lock: Flock): Flock {
  flockBuf.fill(0);
  flockView.setInt16(0, lock.type, true);
  flockView.setInt16(2, SEEK_SET, true);
  flockView.setBigInt64(8, lock.start, true);
  flockView.setBigInt64(16, lock.len, true);
  flockView.setInt32(
    24,
    cmd === F_OFD_GETLK || cmd === F_OFD_SETLK || cmd === F_OFD_SETLKW ? 0 : lock.pid,
    true,
  );
  check("fcntl", lib.fcntl_lock(fd, cmd, flockBuf));
  return {
    type: flockView.getInt16(0, true),
    start: flockView.getBigInt64(8, true),
    len: flockView.getBigInt64(16, true),
    pid: flockView.getInt32(24, true),
  };
}

/** `fcntl(2)` with an integer argument (`F_GETFL` = 3, `F_SETFL` = 4, ...). */
export function fcntl(fd: number, cmd: number, arg = 0): number {
  return check("fcntl", lib.fcntl_int(fd, cmd, w(arg)));
}

/** `flock(2)` (`LOCK_SH`, `LOCK_EX`, `LOCK_UN`, `| LOCK_NB`). */
export function flock(fd: number, operation: number): void {
  check("flock", lib.flock(fd, operation));
}

// ---------------------------------------------------------------- directories

const SYS_GETDENTS64 = BigInt(SYS_getdents64);

/**
 * `getdents64(2)`: fills `buf` with `linux_dirent64` records (d_ino u64,
 * d_off s64, d_reclen u16, d_type u8, name NUL-terminated); returns the bytes
 * filled, 0 at the end.
 */
export function getdents64(fd: number, buf: Uint8Array): number {
  return checkSys("getdents64", lib.sys_getdents64(SYS_GETDENTS64, fd, buf, w(buf.length)));
}

/** One `linux_dirent64` record as read by {@linkcode readDirents}. */
export interface Dirent {
  /** Inode number. */
  ino: bigint;
  /** Cookie of the position after this entry. */
  off: bigint;
  /** `DT_*` type. */
  type: number;
  /** Raw name bytes. */
  name: Uint8Array;
}

/** Decodes the records `getdents64` put in `buf[0, length)`. */
export function readDirents(buf: Uint8Array, length: number): Dirent[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Dirent[] = [];
  let p = 0;
  while (p + 19 <= length) {
    const reclen = v.getUint16(p + 16, true);
    if (reclen < 19 || p + reclen > length) break;
    let end = p + 19;
    while (end < p + reclen && buf[end] !== 0) end++;
    out.push({
      ino: v.getBigUint64(p, true),
      off: v.getBigInt64(p + 8, true),
      type: buf[p + 18],
      name: buf.slice(p + 19, end),
    });
    p += reclen;
  }
  return out;
}

// ---------------------------------------------------------------- credentials

/** `setfsuid(2)` on the calling thread; returns the previous fsuid. */
export function setfsuid(uid: number): number {
  return lib.setfsuid(uid >>> 0);
}

/** `setfsgid(2)` on the calling thread; returns the previous fsgid. */
export function setfsgid(gid: number): number {
  return lib.setfsgid(gid >>> 0);
}

const groupsBuf = new Uint32Array(65536);

/** Sets the supplementary groups of the calling thread only (raw `setgroups` system call). */
export function setgroupsThread(groups: ArrayLike<number>): void {
  const n = Math.min(groups.length, groupsBuf.length);
  for (let i = 0; i < n; i++) groupsBuf[i] = groups[i];
  checkSys(
    "setgroups",
    lib.sys_setgroups(w(SYS_setgroups), w(n), new Uint8Array(groupsBuf.buffer, 0, n * 4)),
  );
}

/** `getgroups(2)`: the calling thread's supplementary groups. */
export function getgroups(): number[] {
  const n = check("getgroups", lib.getgroups(groupsBuf.length, new Uint8Array(groupsBuf.buffer)));
  return Array.from(groupsBuf.subarray(0, n));
}

// ---------------------------------------------------------------- FUSE passthrough

// include/uapi/linux/fuse.h: _IOW(229, 1, struct fuse_backing_map) and _IOW(229, 2, uint32_t)
const FUSE_DEV_IOC_BACKING_OPEN = 0x4010e501;
const FUSE_DEV_IOC_BACKING_CLOSE = 0x4004e502;
const backingMap = new Uint8Array(16); // fuse_backing_map: fd i32, flags u32, padding u64
const backingMapView = new DataView(backingMap.buffer);
const backingId = new Uint8Array(4);
const backingIdView = new DataView(backingId.buffer);

/**
 * Registers `fd` (an open file, not `O_PATH`) as a backing file of the FUSE
 * connection on `devFd` (`FUSE_DEV_IOC_BACKING_OPEN`, needs CAP_SYS_ADMIN and
 * a connection that negotiated FUSE_PASSTHROUGH); returns the backing id an
 * OPEN reply names with FOPEN_PASSTHROUGH.
 */
export function fuseBackingOpen(devFd: number, fd: number): number {
  backingMapView.setInt32(0, fd, true);
  backingMapView.setUint32(4, 0, true);
  backingMapView.setBigUint64(8, 0n, true);
  return check(
    "ioctl FUSE_DEV_IOC_BACKING_OPEN",
    lib.ioctl_buf(devFd, w(FUSE_DEV_IOC_BACKING_OPEN), backingMap),
  );
}

/** Drops a backing id (`FUSE_DEV_IOC_BACKING_CLOSE`); files opened with it keep their backing file. */
export function fuseBackingClose(devFd: number, id: number): void {
  backingIdView.setUint32(0, id, true);
  check(
    "ioctl FUSE_DEV_IOC_BACKING_CLOSE",
    lib.ioctl_buf(devFd, w(FUSE_DEV_IOC_BACKING_CLOSE), backingId),
  );
}

/** `umask(2)` (process-wide): sets the mask, returns the previous one. */
export function umask(mask: number): number {
  return lib.umask(mask);
}

/** The `/proc/self/fd/N` path of descriptor `fd` (to reopen an `O_PATH` descriptor or reach its xattrs). */
export function procFdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}
