/**
 * FUSE protocol constants from the Linux uapi header `include/uapi/linux/fuse.h`
 * (protocol 7.45): opcodes, notification codes, flag bits, and the struct sizes
 * that depend on the negotiated minor version.
 *
 * @module
 */

/** Major protocol version spoken by this codec. */
export const FUSE_KERNEL_VERSION = 7;
/** Newest minor protocol version this codec knows (7.45). */
export const FUSE_KERNEL_MINOR_VERSION = 45;
/** Node id of the root inode. */
export const FUSE_ROOT_ID = 1n;
/** Size of `fuse_in_header`. */
export const FUSE_IN_HEADER_SIZE = 40;
/** Size of `fuse_out_header`. */
export const FUSE_OUT_HEADER_SIZE = 16;
/** The high bit of `unique` marks a resent request (7.40, FUSE_HAS_RESEND). */
export const FUSE_UNIQUE_RESEND = 1n << 63n;
/** Longest name the kernel accepts in a dirent (`FUSE_NAME_MAX`). */
export const FUSE_NAME_MAX = 1024;
/** Types 0..31 of an extension header are a security-context count (`FUSE_MAX_NR_SECCTX`). */
export const FUSE_MAX_NR_SECCTX = 31;
/** Extension type of the supplementary-groups extension (`FUSE_EXT_GROUPS`). */
export const FUSE_EXT_GROUPS = 32;
/** Largest CUSE device-info blob (`CUSE_INIT_INFO_MAX`). */
export const CUSE_INIT_INFO_MAX = 4096;

/**
 * Request opcodes (`enum fuse_opcode`).
 *
 * @example
 * ```ts
 * import { Opcode, opcodeName } from "./constants.ts";
 * console.log(opcodeName(Opcode.LOOKUP)); // "LOOKUP"
 * ```
 */
export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  STATX: 52,
  COPY_FILE_RANGE_64: 53,
  CUSE_INIT: 4096,
} as const;

/** Name of a known opcode (`"LOOKUP"`). */
export type OpName = keyof typeof Opcode;

const OPCODE_NAMES: (OpName | undefined)[] = [];
for (const [name, value] of Object.entries(Opcode)) {
  if (value < 64) OPCODE_NAMES[value] = name as OpName;
}

/** The name of opcode `n` (`"LOOKUP"`), or `undefined` when it is not a known opcode. */
export function opName(n: number): OpName | undefined {
  if (n === Opcode.CUSE_INIT) return "CUSE_INIT";
  return n >= 0 && n < 64 ? OPCODE_NAMES[n] : undefined;
}

/** The name of opcode `n` for printing: `"LOOKUP"`, or `"OPCODE_<n>"` when unknown. */
export function opcodeName(n: number): string {
  return opName(n) ?? `OPCODE_${n}`;
}

/** Opcodes the kernel never expects a reply to. */
export function opcodeHasNoReply(n: number): boolean {
  return n === Opcode.FORGET || n === Opcode.BATCH_FORGET || n === Opcode.NOTIFY_REPLY;
}

/** Notification codes (`enum fuse_notify_code`): carried in `fuse_out_header.error` with unique 0. */
export const NotifyCode = {
  POLL: 1,
  INVAL_INODE: 2,
  INVAL_ENTRY: 3,
  STORE: 4,
  RETRIEVE: 5,
  DELETE: 6,
  RESEND: 7,
  INC_EPOCH: 8,
  PRUNE: 9,
} as const;

/** Name of a known notification (`"INVAL_INODE"`). */
export type NotifyName = keyof typeof NotifyCode;

const NOTIFY_NAMES: (NotifyName | undefined)[] = [];
for (const [name, value] of Object.entries(NotifyCode)) NOTIFY_NAMES[value] = name as NotifyName;

/** The name of notification code `n` (`"INVAL_INODE"`), or `undefined` when unknown. */
export function notifyName(n: number): NotifyName | undefined {
  return n >= 0 && n < NOTIFY_NAMES.length ? NOTIFY_NAMES[n] : undefined;
}

/** A named set of flag bits, printed in words by {@linkcode flagNames}. */
export type FlagSet = Readonly<Record<string, number>>;

/**
 * The names of the bits set in `value` according to `set`, with any unnamed
 * bits as one hex remainder (`["FOPEN_KEEP_CACHE", "0x100"]`).
 */
export function flagNames(set: FlagSet, value: number): string[] {
  const out: string[] = [];
  let rest = value >>> 0;
  for (const [name, bit] of Object.entries(set)) {
    if ((rest & bit) !== 0 && bit !== 0) {
      out.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) out.push(`0x${rest.toString(16)}`);
  return out;
}

/** `fuse_setattr_in.valid` bits. */
export const FATTR = {
  FATTR_MODE: 1 << 0,
  FATTR_UID: 1 << 1,
  FATTR_GID: 1 << 2,
  FATTR_SIZE: 1 << 3,
  FATTR_ATIME: 1 << 4,
  FATTR_MTIME: 1 << 5,
  FATTR_FH: 1 << 6,
  FATTR_ATIME_NOW: 1 << 7,
  FATTR_MTIME_NOW: 1 << 8,
  FATTR_LOCKOWNER: 1 << 9,
  FATTR_CTIME: 1 << 10,
  FATTR_KILL_SUIDGID: 1 << 11,
} as const;

/** `fuse_open_out.open_flags` bits (reply to OPEN, OPENDIR, CREATE). */
export const FOPEN = {
  FOPEN_DIRECT_IO: 1 << 0,
  FOPEN_KEEP_CACHE: 1 << 1,
  FOPEN_NONSEEKABLE: 1 << 2,
  FOPEN_CACHE_DIR: 1 << 3,
  FOPEN_STREAM: 1 << 4,
  FOPEN_NOFLUSH: 1 << 5,
  FOPEN_PARALLEL_DIRECT_WRITES: 1 << 6,
  FOPEN_PASSTHROUGH: 1 << 7,
} as const;

/** `fuse_open_in.open_flags` / `fuse_create_in.open_flags` bits. */
export const FUSE_OPEN = {
  FUSE_OPEN_KILL_SUIDGID: 1 << 0,
} as const;

/** `fuse_release_in.release_flags` bits. */
export const RELEASE = {
  FUSE_RELEASE_FLUSH: 1 << 0,
  FUSE_RELEASE_FLOCK_UNLOCK: 1 << 1,
} as const;

/** `fuse_getattr_in.getattr_flags` bits. */
export const GETATTR = {
  FUSE_GETATTR_FH: 1 << 0,
} as const;

/** `fuse_lk_in.lk_flags` bits. */
export const LK = {
  FUSE_LK_FLOCK: 1 << 0,
} as const;

/** `fuse_write_in.write_flags` bits. */
export const WRITE = {
  FUSE_WRITE_CACHE: 1 << 0,
  FUSE_WRITE_LOCKOWNER: 1 << 1,
  FUSE_WRITE_KILL_SUIDGID: 1 << 2,
} as const;

/** `fuse_read_in.read_flags` bits. */
export const READ = {
  FUSE_READ_LOCKOWNER: 1 << 1,
} as const;

/** `fuse_ioctl_in.flags` / `fuse_ioctl_out.flags` bits. */
export const IOCTL = {
  FUSE_IOCTL_COMPAT: 1 << 0,
  FUSE_IOCTL_UNRESTRICTED: 1 << 1,
  FUSE_IOCTL_RETRY: 1 << 2,
  FUSE_IOCTL_32BIT: 1 << 3,
  FUSE_IOCTL_DIR: 1 << 4,
  FUSE_IOCTL_COMPAT_X32: 1 << 5,
} as const;

/** `fuse_poll_in.flags` bits. */
export const POLL = {
  FUSE_POLL_SCHEDULE_NOTIFY: 1 << 0,
} as const;

/** `fuse_fsync_in.fsync_flags` bits. */
export const FSYNC = {
  FUSE_FSYNC_FDATASYNC: 1 << 0,
} as const;

/** `fuse_attr.flags` bits. */
export const ATTR = {
  FUSE_ATTR_SUBMOUNT: 1 << 0,
  FUSE_ATTR_DAX: 1 << 1,
} as const;

/** `fuse_setxattr_in.setxattr_flags` bits (with FUSE_SETXATTR_EXT). */
export const SETXATTR = {
  FUSE_SETXATTR_ACL_KILL_SGID: 1 << 0,
} as const;

/** `fuse_notify_inval_entry_out.flags` bits. */
export const NOTIFY_INVAL_ENTRY = {
  FUSE_EXPIRE_ONLY: 1 << 0,
} as const;

/** `cuse_init_in.flags` / `cuse_init_out.flags` bits. */
export const CUSE = {
  CUSE_UNRESTRICTED_IOCTL: 1 << 0,
} as const;

/** `fuse_setupmapping_in.flags` bits. */
export const SETUPMAPPING = {
  FUSE_SETUPMAPPING_FLAG_WRITE: 1 << 0,
  FUSE_SETUPMAPPING_FLAG_READ: 1 << 1,
} as const;

/**
 * INIT flags as one 64-bit word: bits 0..31 travel in `flags`, bits 32..63 in
 * `flags2` (shifted down 32), as the header describes.
 */
export const InitFlag = {
  ASYNC_READ: 1n << 0n,
  POSIX_LOCKS: 1n << 1n,
  FILE_OPS: 1n << 2n,
  ATOMIC_O_TRUNC: 1n << 3n,
  EXPORT_SUPPORT: 1n << 4n,
  BIG_WRITES: 1n << 5n,
  DONT_MASK: 1n << 6n,
  SPLICE_WRITE: 1n << 7n,
  SPLICE_MOVE: 1n << 8n,
  SPLICE_READ: 1n << 9n,
  FLOCK_LOCKS: 1n << 10n,
  HAS_IOCTL_DIR: 1n << 11n,
  AUTO_INVAL_DATA: 1n << 12n,
  DO_READDIRPLUS: 1n << 13n,
  READDIRPLUS_AUTO: 1n << 14n,
  ASYNC_DIO: 1n << 15n,
  WRITEBACK_CACHE: 1n << 16n,
  NO_OPEN_SUPPORT: 1n << 17n,
  PARALLEL_DIROPS: 1n << 18n,
  HANDLE_KILLPRIV: 1n << 19n,
  POSIX_ACL: 1n << 20n,
  ABORT_ERROR: 1n << 21n,
  MAX_PAGES: 1n << 22n,
  CACHE_SYMLINKS: 1n << 23n,
  NO_OPENDIR_SUPPORT: 1n << 24n,
  EXPLICIT_INVAL_DATA: 1n << 25n,
  MAP_ALIGNMENT: 1n << 26n,
  SUBMOUNTS: 1n << 27n,
  HANDLE_KILLPRIV_V2: 1n << 28n,
  SETXATTR_EXT: 1n << 29n,
  INIT_EXT: 1n << 30n,
  INIT_RESERVED: 1n << 31n,
  SECURITY_CTX: 1n << 32n,
  HAS_INODE_DAX: 1n << 33n,
  CREATE_SUPP_GROUP: 1n << 34n,
  HAS_EXPIRE_ONLY: 1n << 35n,
  DIRECT_IO_ALLOW_MMAP: 1n << 36n,
  PASSTHROUGH: 1n << 37n,
  NO_EXPORT_SUPPORT: 1n << 38n,
  HAS_RESEND: 1n << 39n,
  ALLOW_IDMAP: 1n << 40n,
  OVER_IO_URING: 1n << 41n,
  REQUEST_TIMEOUT: 1n << 42n,
} as const;

/** Joins INIT `flags` and `flags2` into one 64-bit word. */
export function initFlagsWord(flags: number, flags2: number): bigint {
  return (BigInt(flags2 >>> 0) << 32n) | BigInt(flags >>> 0);
}

/** Splits a 64-bit INIT flag word into `flags` and `flags2`. */
export function splitInitFlags(word: bigint): { flags: number; flags2: number } {
  return {
    flags: Number(word & 0xffffffffn),
    flags2: Number((word >> 32n) & 0xffffffffn),
  };
}

/**
 * The names of the INIT flags set in `word` (`["ASYNC_READ", "BIG_WRITES"]`),
 * unnamed bits as `"bit<n>"`.
 */
export function initFlagNames(word: bigint): string[] {
  const out: string[] = [];
  let rest = word;
  for (const [name, bit] of Object.entries(InitFlag)) {
    if ((rest & bit) !== 0n) {
      out.push(name);
      rest &= ~bit;
    }
  }
  for (let i = 0n; rest !== 0n && i < 64n; i++) {
    if ((rest & (1n << i)) !== 0n) {
      out.push(`bit${i}`);
      rest &= ~(1n << i);
    }
  }
  return out;
}

/** Directory entry types in `fuse_dirent.type` (the `DT_*` values of `d_type`). */
export const DirentType = {
  DT_UNKNOWN: 0,
  DT_FIFO: 1,
  DT_CHR: 2,
  DT_DIR: 4,
  DT_BLK: 6,
  DT_REG: 8,
  DT_LNK: 10,
  DT_SOCK: 12,
  DT_WHT: 14,
} as const;

/** Struct sizes as they travel at the newest minor (sizeof in fuse.h). */
export const SIZE = {
  fuse_attr: 88,
  fuse_kstatfs: 80,
  fuse_file_lock: 24,
  fuse_entry_out: 128,
  fuse_forget_in: 8,
  fuse_forget_one: 16,
  fuse_batch_forget_in: 8,
  fuse_getattr_in: 16,
  fuse_attr_out: 104,
  fuse_statx_in: 24,
  fuse_statx: 256,
  fuse_statx_out: 288,
  fuse_mknod_in: 16,
  fuse_mkdir_in: 8,
  fuse_rename_in: 8,
  fuse_rename2_in: 16,
  fuse_link_in: 8,
  fuse_setattr_in: 88,
  fuse_open_in: 8,
  fuse_create_in: 16,
  fuse_open_out: 16,
  fuse_release_in: 24,
  fuse_flush_in: 24,
  fuse_read_in: 40,
  fuse_write_in: 40,
  fuse_write_out: 8,
  fuse_statfs_out: 80,
  fuse_fsync_in: 16,
  fuse_setxattr_in: 16,
  fuse_getxattr_in: 8,
  fuse_getxattr_out: 8,
  fuse_lk_in: 48,
  fuse_lk_out: 24,
  fuse_access_in: 8,
  fuse_init_in: 64,
  fuse_init_out: 64,
  cuse_init_in: 16,
  cuse_init_out: 72,
  fuse_interrupt_in: 8,
  fuse_bmap_in: 16,
  fuse_bmap_out: 8,
  fuse_ioctl_in: 32,
  fuse_ioctl_out: 16,
  fuse_poll_in: 24,
  fuse_poll_out: 8,
  fuse_notify_poll_wakeup_out: 8,
  fuse_fallocate_in: 32,
  fuse_dirent: 24,
  fuse_notify_inval_inode_out: 24,
  fuse_notify_inval_entry_out: 16,
  fuse_notify_delete_out: 24,
  fuse_notify_store_out: 24,
  fuse_notify_retrieve_out: 32,
  fuse_notify_retrieve_in: 40,
  fuse_notify_prune_out: 16,
  fuse_lseek_in: 24,
  fuse_lseek_out: 8,
  fuse_copy_file_range_in: 56,
  fuse_copy_file_range_out: 8,
  fuse_setupmapping_in: 40,
  fuse_removemapping_in: 4,
  fuse_removemapping_one: 16,
  fuse_syncfs_in: 8,
  fuse_secctx_header: 8,
  fuse_secctx: 8,
  fuse_ext_header: 8,
} as const;

/** `FUSE_COMPAT_ENTRY_OUT_SIZE`: fuse_entry_out below 7.9. */
export const FUSE_COMPAT_ENTRY_OUT_SIZE = 120;
/** `FUSE_COMPAT_ATTR_OUT_SIZE`: fuse_attr_out below 7.9. */
export const FUSE_COMPAT_ATTR_OUT_SIZE = 96;
/** `FUSE_COMPAT_MKNOD_IN_SIZE`: fuse_mknod_in below 7.12. */
export const FUSE_COMPAT_MKNOD_IN_SIZE = 8;
/** `FUSE_COMPAT_WRITE_IN_SIZE`: fuse_write_in (and fuse_read_in) below 7.9. */
export const FUSE_COMPAT_WRITE_IN_SIZE = 24;
/** `FUSE_COMPAT_STATFS_SIZE`: fuse_statfs_out below 7.4. */
export const FUSE_COMPAT_STATFS_SIZE = 48;
/** `FUSE_COMPAT_INIT_OUT_SIZE`: fuse_init_out below 7.5. */
export const FUSE_COMPAT_INIT_OUT_SIZE = 8;
/** `FUSE_COMPAT_22_INIT_OUT_SIZE`: fuse_init_out from 7.5 to 7.22. */
export const FUSE_COMPAT_22_INIT_OUT_SIZE = 24;
/** fuse_init_in below 7.36 (before flags2 and the reserved words). */
export const FUSE_COMPAT_INIT_IN_SIZE = 16;
/** `FUSE_COMPAT_SETXATTR_IN_SIZE`: fuse_setxattr_in without FUSE_SETXATTR_EXT. */
export const FUSE_COMPAT_SETXATTR_IN_SIZE = 8;
/** fuse_create_in below 7.12: the kernel sends only `flags` and `mode` (sizeof fuse_open_in). */
export const FUSE_COMPAT_CREATE_IN_SIZE = 8;
