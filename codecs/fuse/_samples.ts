/**
 * Private: one sample message per opcode (requests and replies) and per
 * notification, valid at a given minor, for the round-trip tests, the fuzz
 * seeds, the Kaitai cross-check and the benchmark. Fields a minor does not
 * carry are 0, so decode(encode(sample)) equals the sample.
 *
 * @module
 */
import type { FuseNotificationInit, FuseReplyInit, FuseRequestInit } from "./codec.ts";
import type { OpName } from "./constants.ts";
import type { FuseAttr, FuseEntryOut, FuseOpenOut, FuseStatx } from "./types.ts";
import { FuseName } from "./names.ts";
import { DirentList, DirentplusList } from "./dirents.ts";

const enc = new TextEncoder();

/** A fuse_attr sample; `seed` varies the values. */
export function sampleAttr(minor: number, seed = 1): FuseAttr {
  return {
    ino: 0x100n + BigInt(seed),
    size: 4096n * BigInt(seed),
    blocks: 8n * BigInt(seed),
    atime: 1_700_000_000n + BigInt(seed),
    mtime: 1_700_000_100n,
    ctime: 1_700_000_200n,
    atimensec: 111_111_111,
    mtimensec: 222_222_222,
    ctimensec: 333_333_333,
    mode: 0o100644,
    nlink: 1,
    uid: 1000,
    gid: 1000 + seed,
    rdev: 0,
    blksize: minor < 9 ? 0 : 4096,
    flags: minor < 9 ? 0 : 0,
  };
}

/** A fuse_entry_out sample. */
export function sampleEntry(minor: number, seed = 1): FuseEntryOut {
  return {
    nodeid: 0x2000n + BigInt(seed),
    generation: 7n,
    entry_valid: 1n,
    attr_valid: 1n,
    entry_valid_nsec: 500,
    attr_valid_nsec: 600,
    attr: sampleAttr(minor, seed),
  };
}

const openOut: FuseOpenOut = { fh: 0xabcdn, open_flags: 2, backing_id: 0 };

const statx: FuseStatx = {
  mask: 0xfff,
  blksize: 4096,
  attributes: 0n,
  nlink: 2,
  uid: 0,
  gid: 0,
  mode: 0o40755,
  ino: 42n,
  size: 4096n,
  blocks: 8n,
  attributes_mask: 0x1000n,
  atime: { tv_sec: 1_700_000_000n, tv_nsec: 1 },
  btime: { tv_sec: -5n, tv_nsec: 2 },
  ctime: { tv_sec: 1_700_000_002n, tv_nsec: 3 },
  mtime: { tv_sec: 1_700_000_003n, tv_nsec: 4 },
  rdev_major: 0,
  rdev_minor: 0,
  dev_major: 8,
  dev_minor: 1,
};

const readIn = {
  fh: 0x11n,
  offset: 8192n,
  size: 4096,
  read_flags: 2,
  lock_owner: 0x5555n,
  flags: 0o100002,
  padding: 0,
};
const releaseIn = { fh: 0x11n, flags: 0o2, release_flags: 1, lock_owner: 0x77n };
const fsyncIn = { fh: 0x11n, fsync_flags: 1, padding: 0 };
const lkIn = {
  fh: 0x11n,
  owner: 0x99n,
  lk: { start: 0n, end: 0x7fffffffffffffffn, type: 1, pid: 321 },
  lk_flags: 0,
  padding: 0,
};
const copyIn = {
  fh_in: 1n,
  off_in: 2n,
  nodeid_out: 3n,
  fh_out: 4n,
  off_out: 5n,
  len: 65536n,
  flags: 0n,
};

/** Request bodies for every opcode at `minor` (with SETXATTR_EXT when `setxattrExt`). */
export function requestBodies(
  minor: number,
  setxattrExt = minor >= 33,
): { [K in OpName]: FuseRequestInit & { op: K } } {
  const h = (unique: bigint, nodeid = 1n) => ({ unique, nodeid, uid: 1000, gid: 1000, pid: 4242 });
  const old12 = minor < 12;
  return {
    LOOKUP: { op: "LOOKUP", header: h(2n), body: { name: "hello.txt" } },
    FORGET: { op: "FORGET", header: h(4n, 5n), body: { nlookup: 3n } },
    GETATTR: { op: "GETATTR", header: h(6n), body: { getattr_flags: 1, dummy: 0, fh: 0x11n } },
    SETATTR: {
      op: "SETATTR",
      header: h(8n, 5n),
      body: {
        valid: 0x1 | 0x8 | 0x40,
        padding: 0,
        fh: 0x11n,
        size: 12345n,
        lock_owner: 0n,
        atime: 1n,
        mtime: 2n,
        ctime: 3n,
        atimensec: 4,
        mtimensec: 5,
        ctimensec: 6,
        mode: 0o100600,
        unused4: 0,
        uid: 1000,
        gid: 1000,
        unused5: 0,
      },
    },
    READLINK: { op: "READLINK", header: h(10n, 6n), body: {} },
    SYMLINK: {
      op: "SYMLINK",
      header: h(12n),
      body: { name: "link", linkname: "../target/ü" },
    },
    MKNOD: {
      op: "MKNOD",
      header: h(14n),
      body: {
        mode: 0o10644,
        rdev: 0,
        umask: old12 ? 0 : 0o22,
        padding: 0,
        name: "fifo",
      },
    },
    MKDIR: { op: "MKDIR", header: h(16n), body: { mode: 0o755, umask: 0o22, name: "dir" } },
    UNLINK: { op: "UNLINK", header: h(18n), body: { name: "gone" } },
    RMDIR: { op: "RMDIR", header: h(20n), body: { name: "gonedir" } },
    RENAME: {
      op: "RENAME",
      header: h(22n),
      body: { newdir: 7n, oldname: "a", newname: "b" },
    },
    LINK: { op: "LINK", header: h(24n), body: { oldnodeid: 5n, newname: "hard" } },
    OPEN: { op: "OPEN", header: h(26n, 5n), body: { flags: 0o100000, open_flags: 0 } },
    READ: { op: "READ", header: h(28n, 5n), body: readIn },
    WRITE: {
      op: "WRITE",
      header: h(30n, 5n),
      body: {
        fh: 0x11n,
        offset: 4096n,
        size: 5,
        write_flags: minor < 9 ? 0 : 2,
        lock_owner: minor < 9 ? 0n : 0x5555n,
        flags: minor < 9 ? 0 : 0o100002,
        padding: 0,
        data: enc.encode("hello"),
      },
    },
    STATFS: { op: "STATFS", header: h(32n), body: {} },
    RELEASE: { op: "RELEASE", header: h(34n, 5n), body: releaseIn },
    FSYNC: { op: "FSYNC", header: h(36n, 5n), body: fsyncIn },
    SETXATTR: {
      op: "SETXATTR",
      header: h(38n, 5n),
      body: {
        size: 3,
        flags: 1,
        setxattr_flags: setxattrExt ? 1 : 0,
        padding: 0,
        name: "user.k",
        value: new Uint8Array([0, 1, 2]),
      },
    },
    GETXATTR: {
      op: "GETXATTR",
      header: h(40n, 5n),
      body: { size: 64, padding: 0, name: "user.k" },
    },
    LISTXATTR: { op: "LISTXATTR", header: h(42n, 5n), body: { size: 0, padding: 0 } },
    REMOVEXATTR: { op: "REMOVEXATTR", header: h(44n, 5n), body: { name: "user.k" } },
    FLUSH: {
      op: "FLUSH",
      header: h(46n, 5n),
      body: { fh: 0x11n, unused: 0, padding: 0, lock_owner: 0x77n },
    },
    INIT: {
      op: "INIT",
      header: h(48n, 0n),
      body: {
        major: 7,
        minor,
        max_readahead: 131072,
        flags: 0x73fffffb | 0,
        flags2: minor >= 36 ? 0x7ff : 0,
      },
    },
    OPENDIR: { op: "OPENDIR", header: h(50n), body: { flags: 0o200000, open_flags: 0 } },
    READDIR: { op: "READDIR", header: h(52n), body: { ...readIn, offset: 0xfffffffffffffff0n } },
    RELEASEDIR: { op: "RELEASEDIR", header: h(54n), body: releaseIn },
    FSYNCDIR: { op: "FSYNCDIR", header: h(56n), body: fsyncIn },
    GETLK: { op: "GETLK", header: h(58n, 5n), body: lkIn },
    SETLK: { op: "SETLK", header: h(60n, 5n), body: lkIn },
    SETLKW: { op: "SETLKW", header: h(62n, 5n), body: { ...lkIn, lk_flags: 1 } },
    ACCESS: { op: "ACCESS", header: h(64n, 5n), body: { mask: 4, padding: 0 } },
    CREATE: {
      op: "CREATE",
      header: h(66n),
      body: {
        flags: 0o100101,
        mode: 0o100644,
        umask: old12 ? 0 : 0o22,
        open_flags: 0,
        name: "new.txt",
      },
    },
    INTERRUPT: { op: "INTERRUPT", header: h(69n, 0n), body: { unique: 28n } },
    BMAP: { op: "BMAP", header: h(70n, 5n), body: { block: 99n, blocksize: 4096, padding: 0 } },
    DESTROY: { op: "DESTROY", header: h(72n, 0n), body: {} },
    IOCTL: {
      op: "IOCTL",
      header: h(74n, 5n),
      body: {
        fh: 0x11n,
        flags: 0,
        cmd: 0x80086601,
        arg: 0x7ffc0000n,
        in_size: 4,
        out_size: 8,
        data: new Uint8Array([9, 8, 7, 6]),
      },
    },
    POLL: { op: "POLL", header: h(76n, 5n), body: { fh: 0x11n, kh: 3n, flags: 1, events: 1 } },
    NOTIFY_REPLY: {
      op: "NOTIFY_REPLY",
      header: h(78n, 5n),
      body: {
        dummy1: 0n,
        offset: 0n,
        size: 2,
        dummy2: 0,
        dummy3: 0n,
        dummy4: 0n,
        data: new Uint8Array([0xaa, 0xbb]),
      },
    },
    BATCH_FORGET: {
      op: "BATCH_FORGET",
      header: h(80n, 0n),
      body: {
        count: 2,
        dummy: 0,
        forgets: [{ nodeid: 5n, nlookup: 1n }, { nodeid: 0xfffffffffffffffen, nlookup: 2n }],
      },
    },
    FALLOCATE: {
      op: "FALLOCATE",
      header: h(82n, 5n),
      body: { fh: 0x11n, offset: 0n, length: 1n << 20n, mode: 1, padding: 0 },
    },
    READDIRPLUS: { op: "READDIRPLUS", header: h(84n), body: readIn },
    RENAME2: {
      op: "RENAME2",
      header: h(86n),
      body: { newdir: 7n, flags: 1, padding: 0, oldname: "x", newname: "yy" },
    },
    LSEEK: {
      op: "LSEEK",
      header: h(88n, 5n),
      body: { fh: 0x11n, offset: 100n, whence: 3, padding: 0 },
    },
    COPY_FILE_RANGE: { op: "COPY_FILE_RANGE", header: h(90n, 5n), body: copyIn },
    SETUPMAPPING: {
      op: "SETUPMAPPING",
      header: h(92n, 5n),
      body: { fh: 0x11n, foffset: 0n, len: 2n << 20n, flags: 3n, moffset: 4n << 20n },
    },
    REMOVEMAPPING: {
      op: "REMOVEMAPPING",
      header: h(94n, 5n),
      body: { count: 1, mappings: [{ moffset: 4n << 20n, len: 2n << 20n }] },
    },
    SYNCFS: { op: "SYNCFS", header: h(96n), body: { padding: 0n } },
    TMPFILE: {
      op: "TMPFILE",
      header: h(98n),
      body: {
        flags: 0o20200002,
        mode: 0o100600,
        umask: old12 ? 0 : 0o22,
        open_flags: 0,
        name: "tmpfile",
      },
    },
    STATX: {
      op: "STATX",
      header: h(100n, 5n),
      body: { getattr_flags: 0, reserved: 0, fh: 0n, sx_flags: 0, sx_mask: 0xfff },
    },
    COPY_FILE_RANGE_64: { op: "COPY_FILE_RANGE_64", header: h(102n, 5n), body: copyIn },
    CUSE_INIT: {
      op: "CUSE_INIT",
      header: h(104n, 0n),
      body: { major: 7, minor: 45, unused: 0, flags: 1 },
    },
  };
}

/** A reply sample for every opcode that has one, at `minor`, keyed by opcode name. */
export function replyBodies(minor: number): Partial<{ [K in OpName]: FuseReplyInit & { op: K } }> {
  const h = (unique: bigint) => ({ unique, error: 0 });
  const entry = sampleEntry(minor);
  const attrOut = { attr_valid: 1n, attr_valid_nsec: 2, dummy: 0, attr: sampleAttr(minor, 2) };
  const empty = {};
  return {
    LOOKUP: { op: "LOOKUP", header: h(2n), body: entry },
    GETATTR: { op: "GETATTR", header: h(6n), body: attrOut },
    SETATTR: { op: "SETATTR", header: h(8n), body: attrOut },
    READLINK: { op: "READLINK", header: h(10n), body: { link: "../target/ü" } },
    SYMLINK: { op: "SYMLINK", header: h(12n), body: sampleEntry(minor, 3) },
    MKNOD: { op: "MKNOD", header: h(14n), body: sampleEntry(minor, 4) },
    MKDIR: { op: "MKDIR", header: h(16n), body: sampleEntry(minor, 5) },
    UNLINK: { op: "UNLINK", header: h(18n), body: empty },
    RMDIR: { op: "RMDIR", header: h(20n), body: empty },
    RENAME: { op: "RENAME", header: h(22n), body: empty },
    LINK: { op: "LINK", header: h(24n), body: sampleEntry(minor, 6) },
    OPEN: { op: "OPEN", header: h(26n), body: openOut },
    READ: { op: "READ", header: h(28n), body: { data: enc.encode("file contents\n") } },
    WRITE: { op: "WRITE", header: h(30n), body: { size: 5, padding: 0 } },
    STATFS: {
      op: "STATFS",
      header: h(32n),
      body: {
        st: {
          blocks: 1000000n,
          bfree: 500000n,
          bavail: 400000n,
          files: 65536n,
          ffree: 60000n,
          bsize: 4096,
          namelen: 255,
          frsize: minor < 4 ? 0 : 4096,
          padding: 0,
        },
      },
    },
    RELEASE: { op: "RELEASE", header: h(34n), body: empty },
    FSYNC: { op: "FSYNC", header: h(36n), body: empty },
    SETXATTR: { op: "SETXATTR", header: h(38n), body: empty },
    GETXATTR: {
      op: "GETXATTR",
      header: h(40n),
      body: { size: 3, value: new Uint8Array([0, 1, 2]) },
    },
    LISTXATTR: { op: "LISTXATTR", header: h(42n), body: { size: 7, value: null } },
    REMOVEXATTR: { op: "REMOVEXATTR", header: h(44n), body: empty },
    FLUSH: { op: "FLUSH", header: h(46n), body: empty },
    INIT: {
      op: "INIT",
      header: h(48n),
      body: {
        major: 7,
        minor,
        max_readahead: minor < 5 ? 0 : 131072,
        flags: minor < 5 ? 0 : 0x40000001 | (1 << 29),
        max_background: minor < 5 ? 0 : 16,
        congestion_threshold: minor < 5 ? 0 : 12,
        max_write: minor < 5 ? 0 : 131072,
        time_gran: minor < 23 ? 0 : 1,
        max_pages: minor < 23 ? 0 : 32,
        map_alignment: 0,
        flags2: minor < 23 ? 0 : 1,
        max_stack_depth: 0,
        request_timeout: 0,
      },
    },
    OPENDIR: { op: "OPENDIR", header: h(50n), body: { fh: 0x22n, open_flags: 8, backing_id: 0 } },
    READDIR: {
      op: "READDIR",
      header: h(52n),
      body: {
        entries: [
          { ino: 1n, off: 1n, namelen: 1, type: 4, name: "." },
          { ino: 1n, off: 2n, namelen: 2, type: 4, name: ".." },
          { ino: 0x2001n, off: 0xfffffffffffffff0n, namelen: 9, type: 8, name: "hello.txt" },
          { ino: 0x2002n, off: 0x7fffffffffffffffn, namelen: 8, type: 10, name: "exactly8" },
        ],
      },
    },
    RELEASEDIR: { op: "RELEASEDIR", header: h(54n), body: empty },
    FSYNCDIR: { op: "FSYNCDIR", header: h(56n), body: empty },
    GETLK: {
      op: "GETLK",
      header: h(58n),
      body: { lk: { start: 10n, end: 20n, type: 2, pid: 77 } },
    },
    SETLK: { op: "SETLK", header: h(60n), body: empty },
    SETLKW: { op: "SETLKW", header: h(62n), body: empty },
    ACCESS: { op: "ACCESS", header: h(64n), body: empty },
    CREATE: { op: "CREATE", header: h(66n), body: { entry: sampleEntry(minor, 7), open: openOut } },
    BMAP: { op: "BMAP", header: h(70n), body: { block: 1234n } },
    DESTROY: { op: "DESTROY", header: h(72n), body: empty },
    IOCTL: {
      op: "IOCTL",
      header: h(74n),
      body: { result: -1, flags: 0, in_iovs: 0, out_iovs: 0, data: new Uint8Array([1, 2, 3, 4]) },
    },
    POLL: { op: "POLL", header: h(76n), body: { revents: 1, padding: 0 } },
    FALLOCATE: { op: "FALLOCATE", header: h(82n), body: empty },
    READDIRPLUS: {
      op: "READDIRPLUS",
      header: h(84n),
      body: {
        entries: [
          {
            entry_out: sampleEntry(45, 8),
            dirent: { ino: 0x108n, off: 1n, namelen: 1, type: 4, name: "." },
          },
          {
            entry_out: sampleEntry(45, 9),
            dirent: { ino: 0x109n, off: 2n, namelen: 11, type: 8, name: "readme.text" },
          },
        ],
      },
    },
    RENAME2: { op: "RENAME2", header: h(86n), body: empty },
    LSEEK: { op: "LSEEK", header: h(88n), body: { offset: 8192n } },
    COPY_FILE_RANGE: { op: "COPY_FILE_RANGE", header: h(90n), body: { size: 65536, padding: 0 } },
    SETUPMAPPING: { op: "SETUPMAPPING", header: h(92n), body: empty },
    REMOVEMAPPING: { op: "REMOVEMAPPING", header: h(94n), body: empty },
    SYNCFS: { op: "SYNCFS", header: h(96n), body: empty },
    TMPFILE: {
      op: "TMPFILE",
      header: h(98n),
      body: { entry: sampleEntry(minor, 10), open: openOut },
    },
    STATX: {
      op: "STATX",
      header: h(100n),
      body: { attr_valid: 1n, attr_valid_nsec: 0, flags: 0, stat: statx },
    },
    COPY_FILE_RANGE_64: {
      op: "COPY_FILE_RANGE_64",
      header: h(102n),
      body: { bytes_copied: 1n << 33n },
    },
    CUSE_INIT: {
      op: "CUSE_INIT",
      header: h(104n),
      body: {
        major: 7,
        minor: 45,
        unused: 0,
        flags: 1,
        max_read: 4096,
        max_write: 4096,
        dev_major: 10,
        dev_minor: 200,
        info: enc.encode("DEVNAME=ringside\0"),
      },
    },
  };
}

/** One sample of every notification. */
export function notificationSamples(): FuseNotificationInit[] {
  return [
    { op: "NOTIFY_POLL", body: { kh: 3n } },
    { op: "NOTIFY_INVAL_INODE", body: { ino: 5n, off: 0n, len: -1n } },
    { op: "NOTIFY_INVAL_ENTRY", body: { parent: 1n, namelen: 9, flags: 1, name: "hello.txt" } },
    {
      op: "NOTIFY_STORE",
      body: { nodeid: 5n, offset: 0n, size: 3, padding: 0, data: new Uint8Array([1, 2, 3]) },
    },
    {
      op: "NOTIFY_RETRIEVE",
      body: { notify_unique: 77n, nodeid: 5n, offset: 0n, size: 4096, padding: 0 },
    },
    {
      op: "NOTIFY_DELETE",
      body: { parent: 1n, child: 5n, namelen: 4, padding: 0, name: "gone" },
    },
    { op: "NOTIFY_RESEND", body: {} },
    { op: "NOTIFY_INC_EPOCH", body: {} },
    { op: "NOTIFY_PRUNE", body: { count: 2, padding: 0, spare: 0n, nodeids: [5n, 6n] } },
  ];
}

/**
 * A decoded value in the shape of the samples, for deepEqual: names as text,
 * directory listings as `{ entries }`.
 */
export function plain(value: unknown): unknown {
  if (value instanceof FuseName) return value.text;
  if (value instanceof DirentList || value instanceof DirentplusList) {
    return { entries: plain(value.entries) };
  }
  if (value instanceof Uint8Array || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(plain);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = plain(v);
  return out;
}
