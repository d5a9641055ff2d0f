/**
 * Private: the reply body layout of every opcode (the body of a reply whose
 * `error` is 0), one table row each, with the sizes that depend on the minor
 * version next to them.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import {
  FUSE_COMPAT_22_INIT_OUT_SIZE,
  FUSE_COMPAT_ATTR_OUT_SIZE,
  FUSE_COMPAT_INIT_OUT_SIZE,
  FUSE_COMPAT_STATFS_SIZE,
  type OpName,
} from "./constants.ts";
import {
  align8,
  atLeast,
  entryOutSize,
  exact,
  nameAt,
  nameLength,
  readAttrOut,
  readEntryOut,
  readFileLock,
  readKstatfs,
  readOpenOut,
  readStatx,
  writeAttrOut,
  writeEntryOut,
  writeFileLock,
  writeKstatfs,
  writeName,
  writeOpenOut,
  writeStatx,
} from "./_layout.ts";
import { DirentList, DirentplusList } from "./dirents.ts";
import type {
  FuseAttrOut,
  FuseDirentInit,
  FuseDirentplusInit,
  FuseEntryOut,
  FuseOpenOut,
  ReplyBodies,
  ReplyBodiesInit,
  WriteOut,
  XattrOut,
} from "./types.ts";

/** One row of the reply table. `request` is the paired request's body when known. */
export interface ReplyLayout<B, I = B> {
  decode(v: DataView, b: Uint8Array, o: number, end: number, minor: number, request: unknown): B;
  size(body: I, minor: number): number;
  encode(v: DataView, b: Uint8Array, o: number, body: I, minor: number): void;
}

/** Decoders return ReplyBodies; encoders take ReplyBodiesInit (a decoded body is one). */
type Table = { [K in OpName]: ReplyLayout<ReplyBodies[K], ReplyBodiesInit[K]> };

const emptyOut: ReplyLayout<Record<string, never>> = {
  decode(_v, _b, o, end) {
    exact(end - o, 0, "body", o);
    return {};
  },
  size: () => 0,
  encode() {},
};

const entryOut: ReplyLayout<FuseEntryOut> = {
  decode(v, _b, o, end, minor) {
    const n = entryOutSize(minor);
    exact(end - o, n, "fuse_entry_out", o);
    return readEntryOut(v, o, n === 120);
  },
  size: (_x, minor) => entryOutSize(minor),
  encode(v, _b, o, x, minor) {
    writeEntryOut(v, o, x, minor < 9);
  },
};

const attrOut: ReplyLayout<FuseAttrOut> = {
  decode(v, _b, o, end, minor) {
    const n = minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE : 104;
    exact(end - o, n, "fuse_attr_out", o);
    return readAttrOut(v, o, n === FUSE_COMPAT_ATTR_OUT_SIZE);
  },
  size: (_x, minor) => minor < 9 ? FUSE_COMPAT_ATTR_OUT_SIZE : 104,
  encode(v, _b, o, x, minor) {
    writeAttrOut(v, o, x, minor < 9);
  },
};

const openOut: ReplyLayout<FuseOpenOut> = {
  decode(v, _b, o, end) {
    exact(end - o, 16, "fuse_open_out", o);
    return readOpenOut(v, o);
  },
  size: () => 16,
  encode(v, _b, o, x) {
    writeOpenOut(v, o, x);
  },
};

const writeOut: ReplyLayout<WriteOut> = {
  decode(v, _b, o, end) {
    exact(end - o, 8, "fuse_write_out", o);
    return { size: v.getUint32(o, true), padding: v.getUint32(o + 4, true) };
  },
  size: () => 8,
  encode(v, _b, o, x) {
    v.setUint32(o, x.size, true);
    v.setUint32(o + 4, x.padding, true);
  },
};

// GETXATTR/LISTXATTR: a request with size 0 asks for the size (fuse_getxattr_out);
// otherwise the reply is the value itself. Without the request, an 8-byte body is
// read as fuse_getxattr_out.
const xattrOut: ReplyLayout<XattrOut> = {
  decode(v, b, o, end, _minor, request) {
    const asked = request === undefined ? undefined : (request as { size: number }).size;
    if (asked === 0 || (asked === undefined && end - o === 8)) {
      exact(end - o, 8, "fuse_getxattr_out", o);
      return { size: v.getUint32(o, true), value: null };
    }
    return { size: end - o, value: b.subarray(o, end) };
  },
  size: (x) => x.value === null ? 8 : x.value.length,
  encode(v, b, o, x) {
    if (x.value === null) v.setUint32(o, x.size, true);
    else b.set(x.value, o);
  },
};

// fuse_dirent: 24 bytes, then namelen bytes of name, padded to 8 (decoded by DirentList)
function writeDirent(v: DataView, b: Uint8Array, p: number, d: FuseDirentInit): number {
  v.setBigUint64(p, d.ino, true);
  v.setBigUint64(p + 8, d.off, true);
  const end = writeName(b, p + 24, d.name);
  v.setUint32(p + 16, end - p - 24, true);
  v.setUint32(p + 20, d.type, true);
  return align8(end);
}

/** The encoded size of a dirent list. */
export function direntsSize(entries: readonly FuseDirentInit[]): number {
  let n = 0;
  for (const d of entries) n += align8(24 + nameLength(d.name));
  return n;
}

/** The encoded size of a direntplus list. */
export function direntplusSize(entries: readonly FuseDirentplusInit[]): number {
  let n = 0;
  for (const d of entries) n += align8(152 + nameLength(d.dirent.name));
  return n;
}

/** A u32 at `at` when the `have`-byte body reaches it, else 0 (a short fuse_init_out). */
function u32If(v: DataView, o: number, have: number, at: number): number {
  return have >= at + 4 ? v.getUint32(o + at, true) : 0;
}

/** A u16 at `at` when the `have`-byte body reaches it, else 0. */
function u16If(v: DataView, o: number, have: number, at: number): number {
  return have >= at + 2 ? v.getUint16(o + at, true) : 0;
}

/** The reply table: one row per opcode. */
export const REPLIES: Table = {
  LOOKUP: entryOut,
  FORGET: emptyOut,
  GETATTR: attrOut,
  SETATTR: attrOut,
  READLINK: {
    decode(_v, b, o, end) {
      return { link: nameAt(b, o, end) };
    },
    size: (x) => nameLength(x.link),
    encode(_v, b, o, x) {
      writeName(b, o, x.link);
    },
  },
  SYMLINK: entryOut,
  MKNOD: entryOut,
  MKDIR: entryOut,
  UNLINK: emptyOut,
  RMDIR: emptyOut,
  RENAME: emptyOut,
  LINK: entryOut,
  OPEN: openOut,
  READ: {
    decode(_v, b, o, end) {
      return { data: b.subarray(o, end) };
    },
    size: (x) => x.data.length,
    encode(_v, b, o, x) {
      b.set(x.data, o);
    },
  },
  WRITE: writeOut,
  // fuse_statfs_out: 80 bytes, 48 below 7.4
  STATFS: {
    decode(v, _b, o, end, minor) {
      const n = minor < 4 ? FUSE_COMPAT_STATFS_SIZE : 80;
      exact(end - o, n, "fuse_statfs_out", o);
      return { st: readKstatfs(v, o, n === FUSE_COMPAT_STATFS_SIZE) };
    },
    size: (_x, minor) => minor < 4 ? FUSE_COMPAT_STATFS_SIZE : 80,
    encode(v, _b, o, x, minor) {
      writeKstatfs(v, o, x.st, minor < 4);
    },
  },
  RELEASE: emptyOut,
  FSYNC: emptyOut,
  SETXATTR: emptyOut,
  GETXATTR: xattrOut,
  LISTXATTR: xattrOut,
  REMOVEXATTR: emptyOut,
  FLUSH: emptyOut,
  // fuse_init_out: its size follows the minor it carries: 64 bytes from 7.23,
  // 24 from 7.5, 8 before. The kernel accepts a shorter reply (the rest reads as 0).
  INIT: {
    decode(v, _b, o, end) {
      const have = end - o;
      atLeast(have, FUSE_COMPAT_INIT_OUT_SIZE, "fuse_init_out", o);
      if (have > 64) {
        throw new CodecError("fuse_init_out", o, `expected at most 64 bytes, found ${have}`);
      }
      return {
        major: v.getUint32(o, true),
        minor: v.getUint32(o + 4, true),
        max_readahead: u32If(v, o, have, 8),
        flags: u32If(v, o, have, 12),
        max_background: u16If(v, o, have, 16),
        congestion_threshold: u16If(v, o, have, 18),
        max_write: u32If(v, o, have, 20),
        time_gran: u32If(v, o, have, 24),
        max_pages: u16If(v, o, have, 28),
        map_alignment: u16If(v, o, have, 30),
        flags2: u32If(v, o, have, 32),
        max_stack_depth: u32If(v, o, have, 36),
        request_timeout: u16If(v, o, have, 40),
      };
    },
    size: (x) =>
      x.minor < 5 ? FUSE_COMPAT_INIT_OUT_SIZE : x.minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : 64,
    encode(v, _b, o, x) {
      v.setUint32(o, x.major, true);
      v.setUint32(o + 4, x.minor, true);
      if (x.minor < 5) return;
      v.setUint32(o + 8, x.max_readahead, true);
      v.setUint32(o + 12, x.flags, true);
      v.setUint16(o + 16, x.max_background, true);
      v.setUint16(o + 18, x.congestion_threshold, true);
      v.setUint32(o + 20, x.max_write, true);
      if (x.minor < 23) return;
      v.setUint32(o + 24, x.time_gran, true);
      v.setUint16(o + 28, x.max_pages, true);
      v.setUint16(o + 30, x.map_alignment, true);
      v.setUint32(o + 32, x.flags2, true);
      v.setUint32(o + 36, x.max_stack_depth, true);
      v.setUint16(o + 40, x.request_timeout, true);
    },
  },
  OPENDIR: openOut,
  READDIR: {
    decode(v, b, o, end) {
      return new DirentList(v, b, o, end);
    },
    // a decoded list is re-encoded by copying its records
    size: (x) => x instanceof DirentList ? x.bytes.length : direntsSize(x.entries),
    encode(v, b, o, x) {
      if (x instanceof DirentList) {
        b.set(x.bytes, o);
        return;
      }
      let p = o;
      for (const d of x.entries) p = writeDirent(v, b, p, d);
    },
  },
  RELEASEDIR: emptyOut,
  FSYNCDIR: emptyOut,
  GETLK: {
    decode(v, _b, o, end) {
      exact(end - o, 24, "fuse_lk_out", o);
      return { lk: readFileLock(v, o) };
    },
    size: () => 24,
    encode(v, _b, o, x) {
      writeFileLock(v, o, x.lk);
    },
  },
  SETLK: emptyOut,
  SETLKW: emptyOut,
  ACCESS: emptyOut,
  CREATE: createOut(),
  INTERRUPT: emptyOut,
  BMAP: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_bmap_out", o);
      return { block: v.getBigUint64(o, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.block, true);
    },
  },
  DESTROY: emptyOut,
  IOCTL: {
    decode(v, b, o, end) {
      atLeast(end - o, 16, "fuse_ioctl_out", o);
      return {
        result: v.getInt32(o, true),
        flags: v.getUint32(o + 4, true),
        in_iovs: v.getUint32(o + 8, true),
        out_iovs: v.getUint32(o + 12, true),
        data: b.subarray(o + 16, end),
      };
    },
    size: (x) => 16 + x.data.length,
    encode(v, b, o, x) {
      v.setInt32(o, x.result, true);
      v.setUint32(o + 4, x.flags, true);
      v.setUint32(o + 8, x.in_iovs, true);
      v.setUint32(o + 12, x.out_iovs, true);
      b.set(x.data, o + 16);
    },
  },
  POLL: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_poll_out", o);
      return { revents: v.getUint32(o, true), padding: v.getUint32(o + 4, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setUint32(o, x.revents, true);
      v.setUint32(o + 4, x.padding, true);
    },
  },
  NOTIFY_REPLY: emptyOut,
  BATCH_FORGET: emptyOut,
  FALLOCATE: emptyOut,
  // fuse_direntplus: fuse_entry_out (128) then fuse_dirent, padded to 8
  READDIRPLUS: {
    decode(v, b, o, end) {
      return new DirentplusList(v, b, o, end);
    },
    size: (x) => x instanceof DirentplusList ? x.bytes.length : direntplusSize(x.entries),
    encode(v, b, o, x) {
      if (x instanceof DirentplusList) {
        b.set(x.bytes, o);
        return;
      }
      let p = o;
      for (const d of x.entries) {
        writeEntryOut(v, p, d.entry_out, false);
        p = writeDirent(v, b, p + 128, d.dirent);
      }
    },
  },
  RENAME2: emptyOut,
  LSEEK: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_lseek_out", o);
      return { offset: v.getBigUint64(o, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.offset, true);
    },
  },
  COPY_FILE_RANGE: writeOut,
  SETUPMAPPING: emptyOut,
  REMOVEMAPPING: emptyOut,
  SYNCFS: emptyOut,
  TMPFILE: createOut(),
  // fuse_statx_out: 32 bytes then fuse_statx (256)
  STATX: {
    decode(v, _b, o, end) {
      exact(end - o, 288, "fuse_statx_out", o);
      return {
        attr_valid: v.getBigUint64(o, true),
        attr_valid_nsec: v.getUint32(o + 8, true),
        flags: v.getUint32(o + 12, true),
        stat: readStatx(v, o + 32),
      };
    },
    size: () => 288,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.attr_valid, true);
      v.setUint32(o + 8, x.attr_valid_nsec, true);
      v.setUint32(o + 12, x.flags, true);
      writeStatx(v, o + 32, x.stat);
    },
  },
  COPY_FILE_RANGE_64: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_copy_file_range_out", o);
      return { bytes_copied: v.getBigUint64(o, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.bytes_copied, true);
    },
  },
  // cuse_init_out: 72 bytes, then the device info strings
  CUSE_INIT: {
    decode(v, b, o, end) {
      atLeast(end - o, 72, "cuse_init_out", o);
      return {
        major: v.getUint32(o, true),
        minor: v.getUint32(o + 4, true),
        unused: v.getUint32(o + 8, true),
        flags: v.getUint32(o + 12, true),
        max_read: v.getUint32(o + 16, true),
        max_write: v.getUint32(o + 20, true),
        dev_major: v.getUint32(o + 24, true),
        dev_minor: v.getUint32(o + 28, true),
        info: b.subarray(o + 72, end),
      };
    },
    size: (x) => 72 + x.info.length,
    encode(v, b, o, x) {
      v.setUint32(o, x.major, true);
      v.setUint32(o + 4, x.minor, true);
      v.setUint32(o + 8, x.unused, true);
      v.setUint32(o + 12, x.flags, true);
      v.setUint32(o + 16, x.max_read, true);
      v.setUint32(o + 20, x.max_write, true);
      v.setUint32(o + 24, x.dev_major, true);
      v.setUint32(o + 28, x.dev_minor, true);
      b.set(x.info, o + 72);
    },
  },
};

// CREATE/TMPFILE: fuse_entry_out then fuse_open_out
function createOut(): ReplyLayout<{ entry: FuseEntryOut; open: FuseOpenOut }> {
  return {
    decode(v, _b, o, end, minor) {
      const n = entryOutSize(minor);
      exact(end - o, n + 16, "fuse_entry_out+fuse_open_out", o);
      return { entry: readEntryOut(v, o, n === 120), open: readOpenOut(v, o + n) };
    },
    size: (_x, minor) => entryOutSize(minor) + 16,
    encode(v, _b, o, x, minor) {
      writeEntryOut(v, o, x.entry, minor < 9);
      writeOpenOut(v, o + entryOutSize(minor), x.open);
    },
  };
}
