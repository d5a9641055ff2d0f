/**
 * Typed FUSE messages. Field names are exactly those of the Linux header
 * `include/uapi/linux/fuse.h` (snake_case), so JSON keys, the Wireshark
 * dissector and the C structs line up. u64 fields are `bigint`; payloads
 * (WRITE data, READ reply data, xattr values) are `Uint8Array` views into the
 * decoded buffer, not copies. Names and symlink targets are bytes too
 * ({@linkcode FuseName}, a view; encoders also take strings), and a READDIR or
 * READDIRPLUS reply is a list that decodes its entries on first access
 * ({@linkcode DirentList}): all of them stay valid as long as the decoded
 * buffer is left unchanged.
 *
 * Decoded bodies are `RequestBodies`/`ReplyBodies`/`NotifyBodies`; encoders
 * take the `...Init` variants, the same fields with names as
 * {@linkcode NameInit} (a string or bytes).
 *
 * @module
 */
import type { NotifyName, OpName } from "./constants.ts";
import type { FuseName, NameInit } from "./names.ts";
import type { DirentList, DirentplusList } from "./dirents.ts";

/** `struct fuse_in_header` (40 bytes). `total_extlen` counts 8-byte units of extensions (7.38). */
export interface FuseInHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
  total_extlen: number;
}

/** `struct fuse_out_header` (16 bytes). `error` is 0 or a negative errno; a notification code when `unique` is 0. */
export interface FuseOutHeader {
  len: number;
  error: number;
  unique: bigint;
}

/** `struct fuse_attr` (88 bytes; 80 below 7.9, without blksize and flags). */
export interface FuseAttr {
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atime: bigint;
  mtime: bigint;
  ctime: bigint;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
  flags: number;
}

/** `struct fuse_kstatfs` (80 bytes; 48 below 7.4). */
export interface FuseKstatfs {
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  bsize: number;
  namelen: number;
  frsize: number;
  padding: number;
}

/** `struct fuse_file_lock`. */
export interface FuseFileLock {
  start: bigint;
  end: bigint;
  type: number;
  pid: number;
}

/** `struct fuse_entry_out` (128 bytes; 120 below 7.9). */
export interface FuseEntryOut {
  nodeid: bigint;
  generation: bigint;
  entry_valid: bigint;
  attr_valid: bigint;
  entry_valid_nsec: number;
  attr_valid_nsec: number;
  attr: FuseAttr;
}

/** `struct fuse_attr_out` (104 bytes; 96 below 7.9). */
export interface FuseAttrOut {
  attr_valid: bigint;
  attr_valid_nsec: number;
  dummy: number;
  attr: FuseAttr;
}

/** `struct fuse_open_out`. */
export interface FuseOpenOut {
  fh: bigint;
  open_flags: number;
  backing_id: number;
}

/** `struct fuse_sx_time` (reserved word omitted). */
export interface FuseSxTime {
  tv_sec: bigint;
  tv_nsec: number;
}

/** `struct fuse_statx` (256 bytes; spare words omitted, encoded as zeros). */
export interface FuseStatx {
  mask: number;
  blksize: number;
  attributes: bigint;
  nlink: number;
  uid: number;
  gid: number;
  mode: number;
  ino: bigint;
  size: bigint;
  blocks: bigint;
  attributes_mask: bigint;
  atime: FuseSxTime;
  btime: FuseSxTime;
  ctime: FuseSxTime;
  mtime: FuseSxTime;
  rdev_major: number;
  rdev_minor: number;
  dev_major: number;
  dev_minor: number;
}

/** `struct fuse_forget_one`. */
export interface FuseForgetOne {
  nodeid: bigint;
  nlookup: bigint;
}

/** `struct fuse_removemapping_one`. */
export interface FuseRemovemappingOne {
  moffset: bigint;
  len: bigint;
}

/** `struct fuse_dirent` with its name. */
export interface FuseDirent {
  ino: bigint;
  off: bigint;
  namelen: number;
  type: number;
  name: FuseName;
}

/** A `fuse_dirent` to encode: `namelen` is computed from the name. */
export interface FuseDirentInit {
  ino: bigint;
  off: bigint;
  namelen?: number;
  type: number;
  name: NameInit;
}

/** `struct fuse_direntplus`: an entry_out and a dirent. */
export interface FuseDirentplus {
  entry_out: FuseEntryOut;
  dirent: FuseDirent;
}

/** A `fuse_direntplus` to encode. */
export interface FuseDirentplusInit {
  entry_out: FuseEntryOut;
  dirent: FuseDirentInit;
}

/** An empty body (READLINK, STATFS and DESTROY requests; replies that carry only a header). */
export type EmptyBody = Record<string, never>;

/** A body that is one NUL-terminated name (LOOKUP, UNLINK, RMDIR, REMOVEXATTR). */
export interface NameIn<N = FuseName> {
  name: N;
}

/** Request bodies by opcode name, names of type `N`. */
export interface RequestBodiesOf<N> {
  LOOKUP: NameIn<N>;
  /** `struct fuse_forget_in`. */
  FORGET: { nlookup: bigint };
  /** `struct fuse_getattr_in`. */
  GETATTR: { getattr_flags: number; dummy: number; fh: bigint };
  /** `struct fuse_setattr_in`. */
  SETATTR: {
    valid: number;
    padding: number;
    fh: bigint;
    size: bigint;
    lock_owner: bigint;
    atime: bigint;
    mtime: bigint;
    ctime: bigint;
    atimensec: number;
    mtimensec: number;
    ctimensec: number;
    mode: number;
    unused4: number;
    uid: number;
    gid: number;
    unused5: number;
  };
  READLINK: EmptyBody;
  /** Two NUL-terminated strings: the new entry's name, then the link target. */
  SYMLINK: { name: N; linkname: N };
  /** `struct fuse_mknod_in` (8 bytes below 7.12: mode, rdev) and the name. */
  MKNOD: { mode: number; rdev: number; umask: number; padding: number; name: N };
  /** `struct fuse_mkdir_in` and the name. */
  MKDIR: { mode: number; umask: number; name: N };
  UNLINK: NameIn<N>;
  RMDIR: NameIn<N>;
  /** `struct fuse_rename_in`, the old name, the new name. */
  RENAME: { newdir: bigint; oldname: N; newname: N };
  /** `struct fuse_link_in` and the new name. */
  LINK: { oldnodeid: bigint; newname: N };
  /** `struct fuse_open_in`. */
  OPEN: OpenIn;
  /** `struct fuse_read_in`. */
  READ: ReadIn;
  /** `struct fuse_write_in` (24 bytes below 7.9) and the data. */
  WRITE: {
    fh: bigint;
    offset: bigint;
    size: number;
    write_flags: number;
    lock_owner: bigint;
    flags: number;
    padding: number;
    data: Uint8Array;
  };
  STATFS: EmptyBody;
  /** `struct fuse_release_in`. */
  RELEASE: ReleaseIn;
  /** `struct fuse_fsync_in`. */
  FSYNC: FsyncIn;
  /**
   * `struct fuse_setxattr_in` (8 bytes unless FUSE_SETXATTR_EXT: size, flags),
   * the name, then `size` bytes of value.
   */
  SETXATTR: {
    size: number;
    flags: number;
    setxattr_flags: number;
    padding: number;
    name: N;
    value: Uint8Array;
  };
  /** `struct fuse_getxattr_in` and the name. */
  GETXATTR: { size: number; padding: number; name: N };
  /** `struct fuse_getxattr_in`. */
  LISTXATTR: { size: number; padding: number };
  REMOVEXATTR: NameIn<N>;
  /** `struct fuse_flush_in`. */
  FLUSH: { fh: bigint; unused: number; padding: number; lock_owner: bigint };
  /** `struct fuse_init_in` (16 bytes below 7.36: no flags2). */
  INIT: FuseInitIn;
  OPENDIR: OpenIn;
  READDIR: ReadIn;
  RELEASEDIR: ReleaseIn;
  FSYNCDIR: FsyncIn;
  GETLK: LkIn;
  SETLK: LkIn;
  SETLKW: LkIn;
  /** `struct fuse_access_in`. */
  ACCESS: { mask: number; padding: number };
  /** `struct fuse_create_in` (8 bytes below 7.12: flags, mode) and the name. */
  CREATE: CreateIn<N>;
  /** `struct fuse_interrupt_in`: the unique of the interrupted request. */
  INTERRUPT: { unique: bigint };
  /** `struct fuse_bmap_in`. */
  BMAP: { block: bigint; blocksize: number; padding: number };
  DESTROY: EmptyBody;
  /** `struct fuse_ioctl_in` and `in_size` bytes of input data. */
  IOCTL: {
    fh: bigint;
    flags: number;
    cmd: number;
    arg: bigint;
    in_size: number;
    out_size: number;
    data: Uint8Array;
  };
  /** `struct fuse_poll_in`. */
  POLL: { fh: bigint; kh: bigint; flags: number; events: number };
  /** `struct fuse_notify_retrieve_in` and the retrieved data (answers a RETRIEVE notification). */
  NOTIFY_REPLY: {
    dummy1: bigint;
    offset: bigint;
    size: number;
    dummy2: number;
    dummy3: bigint;
    dummy4: bigint;
    data: Uint8Array;
  };
  /** `struct fuse_batch_forget_in` and `count` fuse_forget_one. */
  BATCH_FORGET: { count: number; dummy: number; forgets: FuseForgetOne[] };
  /** `struct fuse_fallocate_in`. */
  FALLOCATE: { fh: bigint; offset: bigint; length: bigint; mode: number; padding: number };
  READDIRPLUS: ReadIn;
  /** `struct fuse_rename2_in`, the old name, the new name. */
  RENAME2: { newdir: bigint; flags: number; padding: number; oldname: N; newname: N };
  /** `struct fuse_lseek_in`. */
  LSEEK: { fh: bigint; offset: bigint; whence: number; padding: number };
  COPY_FILE_RANGE: CopyFileRangeIn;
  /** `struct fuse_setupmapping_in`. */
  SETUPMAPPING: { fh: bigint; foffset: bigint; len: bigint; flags: bigint; moffset: bigint };
  /** `struct fuse_removemapping_in` (4 bytes) and `count` fuse_removemapping_one. */
  REMOVEMAPPING: { count: number; mappings: FuseRemovemappingOne[] };
  /** `struct fuse_syncfs_in`. */
  SYNCFS: { padding: bigint };
  TMPFILE: CreateIn<N>;
  /** `struct fuse_statx_in`. */
  STATX: { getattr_flags: number; reserved: number; fh: bigint; sx_flags: number; sx_mask: number };
  COPY_FILE_RANGE_64: CopyFileRangeIn;
  /** `struct cuse_init_in`. */
  CUSE_INIT: { major: number; minor: number; unused: number; flags: number };
}

/** Decoded request bodies (names as {@linkcode FuseName}). */
export type RequestBodies = RequestBodiesOf<FuseName>;
/** Request bodies as encoders take them (names as strings or bytes). */
export type RequestBodiesInit = RequestBodiesOf<NameInit>;

/** `struct fuse_open_in` (`open_flags` was `unused` before 7.33). */
export interface OpenIn {
  flags: number;
  open_flags: number;
}

/** `struct fuse_read_in`. */
export interface ReadIn {
  fh: bigint;
  offset: bigint;
  size: number;
  read_flags: number;
  lock_owner: bigint;
  flags: number;
  padding: number;
}

/** `struct fuse_release_in`. */
export interface ReleaseIn {
  fh: bigint;
  flags: number;
  release_flags: number;
  lock_owner: bigint;
}

/** `struct fuse_fsync_in`. */
export interface FsyncIn {
  fh: bigint;
  fsync_flags: number;
  padding: number;
}

/** `struct fuse_lk_in`. */
export interface LkIn {
  fh: bigint;
  owner: bigint;
  lk: FuseFileLock;
  lk_flags: number;
  padding: number;
}

/** `struct fuse_create_in` and the name. */
export interface CreateIn<N = FuseName> {
  flags: number;
  mode: number;
  umask: number;
  open_flags: number;
  name: N;
}

/** `struct fuse_copy_file_range_in`. */
export interface CopyFileRangeIn {
  fh_in: bigint;
  off_in: bigint;
  nodeid_out: bigint;
  fh_out: bigint;
  off_out: bigint;
  len: bigint;
  flags: bigint;
}

/** `struct fuse_init_in` (reserved words omitted). */
export interface FuseInitIn {
  major: number;
  minor: number;
  max_readahead: number;
  flags: number;
  flags2: number;
}

/** `struct fuse_init_out` (64 bytes; 24 from 7.5 to 7.22; 8 below 7.5). */
export interface FuseInitOut {
  major: number;
  minor: number;
  max_readahead: number;
  flags: number;
  max_background: number;
  congestion_threshold: number;
  max_write: number;
  time_gran: number;
  max_pages: number;
  map_alignment: number;
  flags2: number;
  max_stack_depth: number;
  request_timeout: number;
}

/** Reply to GETXATTR/LISTXATTR: the size (when the request asked with size 0) or the value. */
export interface XattrOut {
  /** `fuse_getxattr_out.size` when `value` is null, else the value's length. */
  size: number;
  /** The value (or the NUL-separated name list), or null for a size-only answer. */
  value: Uint8Array | null;
}

/**
 * Reply bodies by opcode name (for replies whose `error` is 0), with names of
 * type `N` and READDIR/READDIRPLUS bodies of types `D`/`P`.
 */
export interface ReplyBodiesOf<N, D, P> {
  LOOKUP: FuseEntryOut;
  FORGET: EmptyBody;
  GETATTR: FuseAttrOut;
  SETATTR: FuseAttrOut;
  /** The link target (the kernel's reply carries it without a NUL). */
  READLINK: { link: N };
  SYMLINK: FuseEntryOut;
  MKNOD: FuseEntryOut;
  MKDIR: FuseEntryOut;
  UNLINK: EmptyBody;
  RMDIR: EmptyBody;
  RENAME: EmptyBody;
  LINK: FuseEntryOut;
  OPEN: FuseOpenOut;
  READ: { data: Uint8Array };
  /** `struct fuse_write_out`. */
  WRITE: WriteOut;
  /** `struct fuse_statfs_out`. */
  STATFS: { st: FuseKstatfs };
  RELEASE: EmptyBody;
  FSYNC: EmptyBody;
  SETXATTR: EmptyBody;
  GETXATTR: XattrOut;
  LISTXATTR: XattrOut;
  REMOVEXATTR: EmptyBody;
  FLUSH: EmptyBody;
  INIT: FuseInitOut;
  OPENDIR: FuseOpenOut;
  /** A list of `fuse_dirent`, each 8-byte aligned. */
  READDIR: D;
  RELEASEDIR: EmptyBody;
  FSYNCDIR: EmptyBody;
  /** `struct fuse_lk_out`. */
  GETLK: { lk: FuseFileLock };
  SETLK: EmptyBody;
  SETLKW: EmptyBody;
  ACCESS: EmptyBody;
  /** `fuse_entry_out` then `fuse_open_out`. */
  CREATE: { entry: FuseEntryOut; open: FuseOpenOut };
  INTERRUPT: EmptyBody;
  /** `struct fuse_bmap_out`. */
  BMAP: { block: bigint };
  DESTROY: EmptyBody;
  /** `struct fuse_ioctl_out` then the output data (or iovecs for a retry). */
  IOCTL: { result: number; flags: number; in_iovs: number; out_iovs: number; data: Uint8Array };
  /** `struct fuse_poll_out`. */
  POLL: { revents: number; padding: number };
  NOTIFY_REPLY: EmptyBody;
  BATCH_FORGET: EmptyBody;
  FALLOCATE: EmptyBody;
  /** A list of `fuse_direntplus`, each 8-byte aligned. */
  READDIRPLUS: P;
  RENAME2: EmptyBody;
  /** `struct fuse_lseek_out`. */
  LSEEK: { offset: bigint };
  COPY_FILE_RANGE: WriteOut;
  SETUPMAPPING: EmptyBody;
  REMOVEMAPPING: EmptyBody;
  SYNCFS: EmptyBody;
  TMPFILE: { entry: FuseEntryOut; open: FuseOpenOut };
  /** `struct fuse_statx_out`. */
  STATX: { attr_valid: bigint; attr_valid_nsec: number; flags: number; stat: FuseStatx };
  /** `struct fuse_copy_file_range_out`. */
  COPY_FILE_RANGE_64: { bytes_copied: bigint };
  /** `struct cuse_init_out` then the device info strings (`DEVNAME=...`, NUL-separated). */
  CUSE_INIT: {
    major: number;
    minor: number;
    unused: number;
    flags: number;
    max_read: number;
    max_write: number;
    dev_major: number;
    dev_minor: number;
    info: Uint8Array;
  };
}

/** Decoded reply bodies: names as {@linkcode FuseName}, directory listings decoded on access. */
export type ReplyBodies = ReplyBodiesOf<FuseName, DirentList, DirentplusList>;
/** Reply bodies as encoders take them (a decoded body is one too). */
export type ReplyBodiesInit = ReplyBodiesOf<
  NameInit,
  { readonly entries: readonly FuseDirentInit[] },
  { readonly entries: readonly FuseDirentplusInit[] }
>;

/** `struct fuse_write_out`. */
export interface WriteOut {
  size: number;
  padding: number;
}

/** A request extension (7.38): the tail of the message, `total_extlen` 8-byte units long. */
export type FuseExtension =
  | {
    /** fuse_secctx_header: `type` is the number of contexts (0..31). */
    kind: "security_context";
    type: number;
    contexts: { name: string; context: Uint8Array }[];
  }
  | {
    /** fuse_supp_groups (type FUSE_EXT_GROUPS). */
    kind: "supp_groups";
    type: 32;
    groups: number[];
  }
  | {
    /** An extension type this codec does not know: its bytes after the 8-byte header. */
    kind: "unknown";
    type: number;
    raw: Uint8Array;
  };

/** A decoded request of a known opcode. */
export interface FuseRequestOf<K extends OpName> {
  op: K;
  header: FuseInHeader;
  body: RequestBodies[K];
  /** Request extensions (security context, supplementary groups), when `total_extlen` is non-zero. */
  extensions?: FuseExtension[];
}

/** A request whose opcode this codec does not know: its body as raw bytes. */
export interface UnknownRequest {
  op: "UNKNOWN";
  header: FuseInHeader;
  body: { raw: Uint8Array };
  extensions?: FuseExtension[];
}

/** Any decoded request; switch on `op` to narrow `body`. */
export type FuseRequest = { [K in OpName]: FuseRequestOf<K> }[OpName] | UnknownRequest;

/** A decoded reply to a request of a known opcode; `body` is null when `header.error` is non-zero. */
export interface FuseReplyOf<K extends OpName> {
  op: K;
  header: FuseOutHeader;
  body: ReplyBodies[K] | null;
}

/** A reply whose request is unknown (or of an unknown opcode): its body as raw bytes. */
export interface UnknownReply {
  op: "UNKNOWN";
  header: FuseOutHeader;
  body: { raw: Uint8Array } | null;
}

/** Any decoded reply; switch on `op` to narrow `body`. */
export type FuseReply = { [K in OpName]: FuseReplyOf<K> }[OpName] | UnknownReply;

/** Notification bodies by notification name, names of type `N`. */
export interface NotifyBodiesOf<N> {
  /** `struct fuse_notify_poll_wakeup_out`. */
  POLL: { kh: bigint };
  /** `struct fuse_notify_inval_inode_out` (`off`, `len` signed). */
  INVAL_INODE: { ino: bigint; off: bigint; len: bigint };
  /** `struct fuse_notify_inval_entry_out` and the name. */
  INVAL_ENTRY: { parent: bigint; namelen: number; flags: number; name: N };
  /** `struct fuse_notify_store_out` and `size` bytes of data. */
  STORE: { nodeid: bigint; offset: bigint; size: number; padding: number; data: Uint8Array };
  /** `struct fuse_notify_retrieve_out`. */
  RETRIEVE: {
    notify_unique: bigint;
    nodeid: bigint;
    offset: bigint;
    size: number;
    padding: number;
  };
  /** `struct fuse_notify_delete_out` and the name. */
  DELETE: { parent: bigint; child: bigint; namelen: number; padding: number; name: N };
  RESEND: EmptyBody;
  INC_EPOCH: EmptyBody;
  /** `struct fuse_notify_prune_out` and `count` node ids. */
  PRUNE: { count: number; padding: number; spare: bigint; nodeids: bigint[] };
}

/** Decoded notification bodies (names as {@linkcode FuseName}). */
export type NotifyBodies = NotifyBodiesOf<FuseName>;
/** Notification bodies as the encoder takes them (names as strings or bytes). */
export type NotifyBodiesInit = NotifyBodiesOf<NameInit>;

/** A decoded notification (server to kernel, `unique` 0, `error` = code). */
export interface FuseNotificationOf<K extends NotifyName> {
  op: `NOTIFY_${K}`;
  header: FuseOutHeader;
  body: NotifyBodies[K];
}

/** A notification of an unknown code. */
export interface UnknownNotification {
  op: "NOTIFY_UNKNOWN";
  header: FuseOutHeader;
  body: { raw: Uint8Array };
}

/** Any decoded notification. */
export type FuseNotification =
  | { [K in NotifyName]: FuseNotificationOf<K> }[NotifyName]
  | UnknownNotification;

/** Protocol parameters a decoder or encoder needs, learnt from the INIT exchange. */
export interface FuseCodecOptions {
  /** Negotiated minor version (default {@linkcode FUSE_KERNEL_MINOR_VERSION}, 45). */
  minor?: number;
  /** FUSE_SETXATTR_EXT was negotiated: fuse_setxattr_in is 16 bytes (default false). */
  setxattrExt?: boolean;
}
