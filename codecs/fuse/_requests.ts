/**
 * Private: the request body layout of every opcode, one table row each
 * (decode, size, encode), with the sizes that depend on the minor version
 * next to them. The body is the part of the message between fuse_in_header
 * and the extensions.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import {
  FUSE_COMPAT_CREATE_IN_SIZE,
  FUSE_COMPAT_INIT_IN_SIZE,
  FUSE_COMPAT_MKNOD_IN_SIZE,
  FUSE_COMPAT_SETXATTR_IN_SIZE,
  FUSE_COMPAT_WRITE_IN_SIZE,
  type OpName,
} from "./constants.ts";
import {
  atLeast,
  cname,
  cstringEnd,
  exact,
  nameLength,
  readFileLock,
  writeCName,
  writeFileLock,
} from "./_layout.ts";
import type { FuseName, NameInit } from "./names.ts";
import type {
  CopyFileRangeIn,
  CreateIn,
  FsyncIn,
  LkIn,
  NameIn,
  OpenIn,
  ReadIn,
  ReleaseIn,
  RequestBodies,
  RequestBodiesInit,
} from "./types.ts";

/** One row of the request table. */
export interface RequestLayout<B, I = B> {
  /** Decodes the body in bytes [o, end). */
  decode(v: DataView, b: Uint8Array, o: number, end: number, minor: number, ext: boolean): B;
  /** Encoded size of `body`. */
  size(body: I, minor: number, ext: boolean): number;
  /** Writes `body` at `o` (the buffer is zeroed and sized by `size`). */
  encode(v: DataView, b: Uint8Array, o: number, body: I, minor: number, ext: boolean): void;
}

/** Decoders return RequestBodies; encoders take RequestBodiesInit (names as strings or bytes). */
type Table = { [K in OpName]: RequestLayout<RequestBodies[K], RequestBodiesInit[K]> };

function empty(): RequestLayout<Record<string, never>> {
  return {
    decode(_v, _b, o, end) {
      exact(end - o, 0, "body", o);
      return {};
    },
    size: () => 0,
    encode() {},
  };
}

/** A body of one NUL-terminated name. */
function nameOnly(): RequestLayout<NameIn, NameIn<NameInit>> {
  return {
    decode(_v, b, o, end) {
      const name = cname(b, o, end, "name");
      nameEnds(end, "name");
      return { name };
    },
    size: (x) => nameLength(x.name) + 1,
    encode(_v, b, o, x) {
      writeCName(b, o, x.name);
    },
  };
}

/** Checks that a name ended exactly at the end of the body. */
function nameEnds(end: number, field: string): void {
  if (cstringEnd !== end) {
    throw new CodecError(field, cstringEnd, `${end - cstringEnd} unexpected bytes after the name`);
  }
}

const openIn: RequestLayout<OpenIn> = {
  decode(v, _b, o, end) {
    exact(end - o, 8, "fuse_open_in", o);
    return { flags: v.getUint32(o, true), open_flags: v.getUint32(o + 4, true) };
  },
  size: () => 8,
  encode(v, _b, o, x) {
    v.setUint32(o, x.flags, true);
    v.setUint32(o + 4, x.open_flags, true);
  },
};

// fuse_read_in: 40 bytes (the kernel sends the full struct at every minor)
const readIn: RequestLayout<ReadIn> = {
  decode(v, _b, o, end) {
    exact(end - o, 40, "fuse_read_in", o);
    return {
      fh: v.getBigUint64(o, true),
      offset: v.getBigUint64(o + 8, true),
      size: v.getUint32(o + 16, true),
      read_flags: v.getUint32(o + 20, true),
      lock_owner: v.getBigUint64(o + 24, true),
      flags: v.getUint32(o + 32, true),
      padding: v.getUint32(o + 36, true),
    };
  },
  size: () => 40,
  encode(v, _b, o, x) {
    v.setBigUint64(o, x.fh, true);
    v.setBigUint64(o + 8, x.offset, true);
    v.setUint32(o + 16, x.size, true);
    v.setUint32(o + 20, x.read_flags, true);
    v.setBigUint64(o + 24, x.lock_owner, true);
    v.setUint32(o + 32, x.flags, true);
    v.setUint32(o + 36, x.padding, true);
  },
};

const releaseIn: RequestLayout<ReleaseIn> = {
  decode(v, _b, o, end) {
    exact(end - o, 24, "fuse_release_in", o);
    return {
      fh: v.getBigUint64(o, true),
      flags: v.getUint32(o + 8, true),
      release_flags: v.getUint32(o + 12, true),
      lock_owner: v.getBigUint64(o + 16, true),
    };
  },
  size: () => 24,
  encode(v, _b, o, x) {
    v.setBigUint64(o, x.fh, true);
    v.setUint32(o + 8, x.flags, true);
    v.setUint32(o + 12, x.release_flags, true);
    v.setBigUint64(o + 16, x.lock_owner, true);
  },
};

const fsyncIn: RequestLayout<FsyncIn> = {
  decode(v, _b, o, end) {
    exact(end - o, 16, "fuse_fsync_in", o);
    return {
      fh: v.getBigUint64(o, true),
      fsync_flags: v.getUint32(o + 8, true),
      padding: v.getUint32(o + 12, true),
    };
  },
  size: () => 16,
  encode(v, _b, o, x) {
    v.setBigUint64(o, x.fh, true);
    v.setUint32(o + 8, x.fsync_flags, true);
    v.setUint32(o + 12, x.padding, true);
  },
};

// fuse_lk_in: 48 bytes
const lkIn: RequestLayout<LkIn> = {
  decode(v, _b, o, end) {
    exact(end - o, 48, "fuse_lk_in", o);
    return {
      fh: v.getBigUint64(o, true),
      owner: v.getBigUint64(o + 8, true),
      lk: readFileLock(v, o + 16),
      lk_flags: v.getUint32(o + 40, true),
      padding: v.getUint32(o + 44, true),
    };
  },
  size: () => 48,
  encode(v, _b, o, x) {
    v.setBigUint64(o, x.fh, true);
    v.setBigUint64(o + 8, x.owner, true);
    writeFileLock(v, o + 16, x.lk);
    v.setUint32(o + 40, x.lk_flags, true);
    v.setUint32(o + 44, x.padding, true);
  },
};

// fuse_create_in: 16 bytes, 8 below 7.12 (flags, mode); then the name
function createInSize(minor: number): number {
  return minor < 12 ? FUSE_COMPAT_CREATE_IN_SIZE : 16;
}

const createIn: RequestLayout<CreateIn, CreateIn<NameInit>> = {
  decode(v, b, o, end, minor) {
    const n = createInSize(minor);
    atLeast(end - o, n + 1, "fuse_create_in", o);
    const compat = n === 8;
    const flags = v.getUint32(o, true);
    const mode = v.getUint32(o + 4, true);
    const umask = compat ? 0 : v.getUint32(o + 8, true);
    const open_flags = compat ? 0 : v.getUint32(o + 12, true);
    const name = cname(b, o + n, end, "name");
    nameEnds(end, "name");
    return { flags, mode, umask, open_flags, name };
  },
  size: (x, minor) => createInSize(minor) + nameLength(x.name) + 1,
  encode(v, b, o, x, minor) {
    const n = createInSize(minor);
    v.setUint32(o, x.flags, true);
    v.setUint32(o + 4, x.mode, true);
    if (n === 16) {
      v.setUint32(o + 8, x.umask, true);
      v.setUint32(o + 12, x.open_flags, true);
    }
    writeCName(b, o + n, x.name);
  },
};

const copyFileRangeIn: RequestLayout<CopyFileRangeIn> = {
  decode(v, _b, o, end) {
    exact(end - o, 56, "fuse_copy_file_range_in", o);
    return {
      fh_in: v.getBigUint64(o, true),
      off_in: v.getBigUint64(o + 8, true),
      nodeid_out: v.getBigUint64(o + 16, true),
      fh_out: v.getBigUint64(o + 24, true),
      off_out: v.getBigUint64(o + 32, true),
      len: v.getBigUint64(o + 40, true),
      flags: v.getBigUint64(o + 48, true),
    };
  },
  size: () => 56,
  encode(v, _b, o, x) {
    v.setBigUint64(o, x.fh_in, true);
    v.setBigUint64(o + 8, x.off_in, true);
    v.setBigUint64(o + 16, x.nodeid_out, true);
    v.setBigUint64(o + 24, x.fh_out, true);
    v.setBigUint64(o + 32, x.off_out, true);
    v.setBigUint64(o + 40, x.len, true);
    v.setBigUint64(o + 48, x.flags, true);
  },
};

/** Two NUL-terminated names after a fixed part of `fixed` bytes. */
function twoNames(
  b: Uint8Array,
  o: number,
  end: number,
  a: string,
  c: string,
): [FuseName, FuseName] {
  const first = cname(b, o, end, a);
  const second = cname(b, cstringEnd, end, c);
  nameEnds(end, c);
  return [first, second];
}

/** The request table: one row per opcode. */
export const REQUESTS: Table = {
  LOOKUP: nameOnly(),
  FORGET: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_forget_in", o);
      return { nlookup: v.getBigUint64(o, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.nlookup, true);
    },
  },
  GETATTR: {
    decode(v, _b, o, end) {
      exact(end - o, 16, "fuse_getattr_in", o);
      return {
        getattr_flags: v.getUint32(o, true),
        dummy: v.getUint32(o + 4, true),
        fh: v.getBigUint64(o + 8, true),
      };
    },
    size: () => 16,
    encode(v, _b, o, x) {
      v.setUint32(o, x.getattr_flags, true);
      v.setUint32(o + 4, x.dummy, true);
      v.setBigUint64(o + 8, x.fh, true);
    },
  },
  // fuse_setattr_in: 88 bytes
  SETATTR: {
    decode(v, _b, o, end) {
      exact(end - o, 88, "fuse_setattr_in", o);
      return {
        valid: v.getUint32(o, true),
        padding: v.getUint32(o + 4, true),
        fh: v.getBigUint64(o + 8, true),
        size: v.getBigUint64(o + 16, true),
        lock_owner: v.getBigUint64(o + 24, true),
        atime: v.getBigUint64(o + 32, true),
        mtime: v.getBigUint64(o + 40, true),
        ctime: v.getBigUint64(o + 48, true),
        atimensec: v.getUint32(o + 56, true),
        mtimensec: v.getUint32(o + 60, true),
        ctimensec: v.getUint32(o + 64, true),
        mode: v.getUint32(o + 68, true),
        unused4: v.getUint32(o + 72, true),
        uid: v.getUint32(o + 76, true),
        gid: v.getUint32(o + 80, true),
        unused5: v.getUint32(o + 84, true),
      };
    },
    size: () => 88,
    encode(v, _b, o, x) {
      v.setUint32(o, x.valid, true);
      v.setUint32(o + 4, x.padding, true);
      v.setBigUint64(o + 8, x.fh, true);
      v.setBigUint64(o + 16, x.size, true);
      v.setBigUint64(o + 24, x.lock_owner, true);
      v.setBigUint64(o + 32, x.atime, true);
      v.setBigUint64(o + 40, x.mtime, true);
      v.setBigUint64(o + 48, x.ctime, true);
      v.setUint32(o + 56, x.atimensec, true);
      v.setUint32(o + 60, x.mtimensec, true);
      v.setUint32(o + 64, x.ctimensec, true);
      v.setUint32(o + 68, x.mode, true);
      v.setUint32(o + 72, x.unused4, true);
      v.setUint32(o + 76, x.uid, true);
      v.setUint32(o + 80, x.gid, true);
      v.setUint32(o + 84, x.unused5, true);
    },
  },
  READLINK: empty(),
  SYMLINK: {
    decode(_v, b, o, end) {
      const [name, linkname] = twoNames(b, o, end, "name", "linkname");
      return { name, linkname };
    },
    size: (x) => nameLength(x.name) + nameLength(x.linkname) + 2,
    encode(_v, b, o, x) {
      writeCName(b, writeCName(b, o, x.name), x.linkname);
    },
  },
  // fuse_mknod_in: 16 bytes, 8 below 7.12 (mode, rdev)
  MKNOD: {
    decode(v, b, o, end, minor) {
      const n = minor < 12 ? FUSE_COMPAT_MKNOD_IN_SIZE : 16;
      atLeast(end - o, n + 1, "fuse_mknod_in", o);
      const mode = v.getUint32(o, true);
      const rdev = v.getUint32(o + 4, true);
      const umask = n === 16 ? v.getUint32(o + 8, true) : 0;
      const padding = n === 16 ? v.getUint32(o + 12, true) : 0;
      const name = cname(b, o + n, end, "name");
      nameEnds(end, "name");
      return { mode, rdev, umask, padding, name };
    },
    size: (x, minor) => (minor < 12 ? FUSE_COMPAT_MKNOD_IN_SIZE : 16) + nameLength(x.name) + 1,
    encode(v, b, o, x, minor) {
      const n = minor < 12 ? FUSE_COMPAT_MKNOD_IN_SIZE : 16;
      v.setUint32(o, x.mode, true);
      v.setUint32(o + 4, x.rdev, true);
      if (n === 16) {
        v.setUint32(o + 8, x.umask, true);
        v.setUint32(o + 12, x.padding, true);
      }
      writeCName(b, o + n, x.name);
    },
  },
  MKDIR: {
    decode(v, b, o, end) {
      atLeast(end - o, 9, "fuse_mkdir_in", o);
      const mode = v.getUint32(o, true);
      const umask = v.getUint32(o + 4, true);
      const name = cname(b, o + 8, end, "name");
      nameEnds(end, "name");
      return { mode, umask, name };
    },
    size: (x) => 8 + nameLength(x.name) + 1,
    encode(v, b, o, x) {
      v.setUint32(o, x.mode, true);
      v.setUint32(o + 4, x.umask, true);
      writeCName(b, o + 8, x.name);
    },
  },
  UNLINK: nameOnly(),
  RMDIR: nameOnly(),
  RENAME: {
    decode(v, b, o, end) {
      atLeast(end - o, 10, "fuse_rename_in", o);
      const newdir = v.getBigUint64(o, true);
      const [oldname, newname] = twoNames(b, o + 8, end, "oldname", "newname");
      return { newdir, oldname, newname };
    },
    size: (x) => 8 + nameLength(x.oldname) + nameLength(x.newname) + 2,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.newdir, true);
      writeCName(b, writeCName(b, o + 8, x.oldname), x.newname);
    },
  },
  LINK: {
    decode(v, b, o, end) {
      atLeast(end - o, 9, "fuse_link_in", o);
      const oldnodeid = v.getBigUint64(o, true);
      const newname = cname(b, o + 8, end, "newname");
      nameEnds(end, "newname");
      return { oldnodeid, newname };
    },
    size: (x) => 8 + nameLength(x.newname) + 1,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.oldnodeid, true);
      writeCName(b, o + 8, x.newname);
    },
  },
  OPEN: openIn,
  READ: readIn,
  // fuse_write_in: 40 bytes, 24 below 7.9 (no lock_owner, flags); then `size` bytes of data
  WRITE: {
    decode(v, b, o, end, minor) {
      const n = minor < 9 ? FUSE_COMPAT_WRITE_IN_SIZE : 40;
      atLeast(end - o, n, "fuse_write_in", o);
      const size = v.getUint32(o + 16, true);
      if (size !== end - o - n) {
        throw new CodecError(
          "fuse_write_in.size",
          o + 16,
          `says ${size} bytes of data, the message carries ${end - o - n}`,
        );
      }
      return {
        fh: v.getBigUint64(o, true),
        offset: v.getBigUint64(o + 8, true),
        size,
        write_flags: v.getUint32(o + 20, true),
        lock_owner: n === 40 ? v.getBigUint64(o + 24, true) : 0n,
        flags: n === 40 ? v.getUint32(o + 32, true) : 0,
        padding: n === 40 ? v.getUint32(o + 36, true) : 0,
        data: b.subarray(o + n, end),
      };
    },
    size: (x, minor) => (minor < 9 ? FUSE_COMPAT_WRITE_IN_SIZE : 40) + x.data.length,
    encode(v, b, o, x, minor) {
      const n = minor < 9 ? FUSE_COMPAT_WRITE_IN_SIZE : 40;
      v.setBigUint64(o, x.fh, true);
      v.setBigUint64(o + 8, x.offset, true);
      v.setUint32(o + 16, x.data.length, true);
      v.setUint32(o + 20, x.write_flags, true);
      if (n === 40) {
        v.setBigUint64(o + 24, x.lock_owner, true);
        v.setUint32(o + 32, x.flags, true);
        v.setUint32(o + 36, x.padding, true);
      }
      b.set(x.data, o + n);
    },
  },
  STATFS: empty(),
  RELEASE: releaseIn,
  FSYNC: fsyncIn,
  // fuse_setxattr_in: 16 bytes with FUSE_SETXATTR_EXT, else 8 (size, flags); name; value
  SETXATTR: {
    decode(v, b, o, end, _minor, ext) {
      const n = ext ? 16 : FUSE_COMPAT_SETXATTR_IN_SIZE;
      atLeast(end - o, n + 1, "fuse_setxattr_in", o);
      const size = v.getUint32(o, true);
      const flags = v.getUint32(o + 4, true);
      const setxattr_flags = ext ? v.getUint32(o + 8, true) : 0;
      const padding = ext ? v.getUint32(o + 12, true) : 0;
      const name = cname(b, o + n, end, "name");
      const at = cstringEnd;
      if (size !== end - at) {
        throw new CodecError(
          "fuse_setxattr_in.size",
          o,
          `says ${size} bytes of value, the message carries ${end - at}`,
        );
      }
      return { size, flags, setxattr_flags, padding, name, value: b.subarray(at, end) };
    },
    size: (x, _minor, ext) =>
      (ext ? 16 : FUSE_COMPAT_SETXATTR_IN_SIZE) + nameLength(x.name) + 1 + x.value.length,
    encode(v, b, o, x, _minor, ext) {
      v.setUint32(o, x.value.length, true);
      v.setUint32(o + 4, x.flags, true);
      if (ext) {
        v.setUint32(o + 8, x.setxattr_flags, true);
        v.setUint32(o + 12, x.padding, true);
      }
      const at = writeCName(b, o + (ext ? 16 : FUSE_COMPAT_SETXATTR_IN_SIZE), x.name);
      b.set(x.value, at);
    },
  },
  GETXATTR: {
    decode(v, b, o, end) {
      atLeast(end - o, 9, "fuse_getxattr_in", o);
      const size = v.getUint32(o, true);
      const padding = v.getUint32(o + 4, true);
      const name = cname(b, o + 8, end, "name");
      nameEnds(end, "name");
      return { size, padding, name };
    },
    size: (x) => 8 + nameLength(x.name) + 1,
    encode(v, b, o, x) {
      v.setUint32(o, x.size, true);
      v.setUint32(o + 4, x.padding, true);
      writeCName(b, o + 8, x.name);
    },
  },
  LISTXATTR: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_getxattr_in", o);
      return { size: v.getUint32(o, true), padding: v.getUint32(o + 4, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setUint32(o, x.size, true);
      v.setUint32(o + 4, x.padding, true);
    },
  },
  REMOVEXATTR: nameOnly(),
  FLUSH: {
    decode(v, _b, o, end) {
      exact(end - o, 24, "fuse_flush_in", o);
      return {
        fh: v.getBigUint64(o, true),
        unused: v.getUint32(o + 8, true),
        padding: v.getUint32(o + 12, true),
        lock_owner: v.getBigUint64(o + 16, true),
      };
    },
    size: () => 24,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.fh, true);
      v.setUint32(o + 8, x.unused, true);
      v.setUint32(o + 12, x.padding, true);
      v.setBigUint64(o + 16, x.lock_owner, true);
    },
  },
  // fuse_init_in: its size follows the minor the message itself carries:
  // 64 bytes from 7.36 (flags2 and reserved words), 16 before
  INIT: {
    decode(v, _b, o, end) {
      atLeast(end - o, 8, "fuse_init_in", o);
      const major = v.getUint32(o, true);
      const minor = v.getUint32(o + 4, true);
      const n = major > 7 ? end - o : minor < 36 ? FUSE_COMPAT_INIT_IN_SIZE : 64;
      if (major > 7) {
        // a newer major: only major and minor are defined (the server answers with its own major)
        return { major, minor, max_readahead: 0, flags: 0, flags2: 0 };
      }
      exact(end - o, n, "fuse_init_in", o);
      return {
        major,
        minor,
        max_readahead: v.getUint32(o + 8, true),
        flags: v.getUint32(o + 12, true),
        flags2: n === 64 ? v.getUint32(o + 16, true) : 0,
      };
    },
    size: (x) => (x.minor < 36 ? FUSE_COMPAT_INIT_IN_SIZE : 64),
    encode(v, _b, o, x) {
      v.setUint32(o, x.major, true);
      v.setUint32(o + 4, x.minor, true);
      v.setUint32(o + 8, x.max_readahead, true);
      v.setUint32(o + 12, x.flags, true);
      if (x.minor >= 36) v.setUint32(o + 16, x.flags2, true);
    },
  },
  OPENDIR: openIn,
  READDIR: readIn,
  RELEASEDIR: releaseIn,
  FSYNCDIR: fsyncIn,
  GETLK: lkIn,
  SETLK: lkIn,
  SETLKW: lkIn,
  ACCESS: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_access_in", o);
      return { mask: v.getUint32(o, true), padding: v.getUint32(o + 4, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setUint32(o, x.mask, true);
      v.setUint32(o + 4, x.padding, true);
    },
  },
  CREATE: createIn,
  INTERRUPT: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_interrupt_in", o);
      return { unique: v.getBigUint64(o, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.unique, true);
    },
  },
  BMAP: {
    decode(v, _b, o, end) {
      exact(end - o, 16, "fuse_bmap_in", o);
      return {
        block: v.getBigUint64(o, true),
        blocksize: v.getUint32(o + 8, true),
        padding: v.getUint32(o + 12, true),
      };
    },
    size: () => 16,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.block, true);
      v.setUint32(o + 8, x.blocksize, true);
      v.setUint32(o + 12, x.padding, true);
    },
  },
  DESTROY: empty(),
  // fuse_ioctl_in: 32 bytes, then in_size bytes of input
  IOCTL: {
    decode(v, b, o, end) {
      atLeast(end - o, 32, "fuse_ioctl_in", o);
      const in_size = v.getUint32(o + 24, true);
      if (in_size !== end - o - 32) {
        throw new CodecError(
          "fuse_ioctl_in.in_size",
          o + 24,
          `says ${in_size} bytes of input, the message carries ${end - o - 32}`,
        );
      }
      return {
        fh: v.getBigUint64(o, true),
        flags: v.getUint32(o + 8, true),
        cmd: v.getUint32(o + 12, true),
        arg: v.getBigUint64(o + 16, true),
        in_size,
        out_size: v.getUint32(o + 28, true),
        data: b.subarray(o + 32, end),
      };
    },
    size: (x) => 32 + x.data.length,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.fh, true);
      v.setUint32(o + 8, x.flags, true);
      v.setUint32(o + 12, x.cmd, true);
      v.setBigUint64(o + 16, x.arg, true);
      v.setUint32(o + 24, x.data.length, true);
      v.setUint32(o + 28, x.out_size, true);
      b.set(x.data, o + 32);
    },
  },
  POLL: {
    decode(v, _b, o, end) {
      exact(end - o, 24, "fuse_poll_in", o);
      return {
        fh: v.getBigUint64(o, true),
        kh: v.getBigUint64(o + 8, true),
        flags: v.getUint32(o + 16, true),
        events: v.getUint32(o + 20, true),
      };
    },
    size: () => 24,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.fh, true);
      v.setBigUint64(o + 8, x.kh, true);
      v.setUint32(o + 16, x.flags, true);
      v.setUint32(o + 20, x.events, true);
    },
  },
  // fuse_notify_retrieve_in: 40 bytes, then `size` bytes of data
  NOTIFY_REPLY: {
    decode(v, b, o, end) {
      atLeast(end - o, 40, "fuse_notify_retrieve_in", o);
      const size = v.getUint32(o + 16, true);
      if (size !== end - o - 40) {
        throw new CodecError(
          "fuse_notify_retrieve_in.size",
          o + 16,
          `says ${size} bytes of data, the message carries ${end - o - 40}`,
        );
      }
      return {
        dummy1: v.getBigUint64(o, true),
        offset: v.getBigUint64(o + 8, true),
        size,
        dummy2: v.getUint32(o + 20, true),
        dummy3: v.getBigUint64(o + 24, true),
        dummy4: v.getBigUint64(o + 32, true),
        data: b.subarray(o + 40, end),
      };
    },
    size: (x) => 40 + x.data.length,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.dummy1, true);
      v.setBigUint64(o + 8, x.offset, true);
      v.setUint32(o + 16, x.data.length, true);
      v.setUint32(o + 20, x.dummy2, true);
      v.setBigUint64(o + 24, x.dummy3, true);
      v.setBigUint64(o + 32, x.dummy4, true);
      b.set(x.data, o + 40);
    },
  },
  // fuse_batch_forget_in: 8 bytes, then count fuse_forget_one of 16
  BATCH_FORGET: {
    decode(v, _b, o, end) {
      atLeast(end - o, 8, "fuse_batch_forget_in", o);
      const count = v.getUint32(o, true);
      if (count * 16 !== end - o - 8) {
        throw new CodecError(
          "fuse_batch_forget_in.count",
          o,
          `says ${count} entries (${count * 16} bytes), the message carries ${end - o - 8} bytes`,
        );
      }
      const forgets = new Array(count);
      for (let i = 0, p = o + 8; i < count; i++, p += 16) {
        forgets[i] = { nodeid: v.getBigUint64(p, true), nlookup: v.getBigUint64(p + 8, true) };
      }
      return { count, dummy: v.getUint32(o + 4, true), forgets };
    },
    size: (x) => 8 + 16 * x.forgets.length,
    encode(v, _b, o, x) {
      v.setUint32(o, x.forgets.length, true);
      v.setUint32(o + 4, x.dummy, true);
      let p = o + 8;
      for (const f of x.forgets) {
        v.setBigUint64(p, f.nodeid, true);
        v.setBigUint64(p + 8, f.nlookup, true);
        p += 16;
      }
    },
  },
  FALLOCATE: {
    decode(v, _b, o, end) {
      exact(end - o, 32, "fuse_fallocate_in", o);
      return {
        fh: v.getBigUint64(o, true),
        offset: v.getBigUint64(o + 8, true),
        length: v.getBigUint64(o + 16, true),
        mode: v.getUint32(o + 24, true),
        padding: v.getUint32(o + 28, true),
      };
    },
    size: () => 32,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.fh, true);
      v.setBigUint64(o + 8, x.offset, true);
      v.setBigUint64(o + 16, x.length, true);
      v.setUint32(o + 24, x.mode, true);
      v.setUint32(o + 28, x.padding, true);
    },
  },
  READDIRPLUS: readIn,
  RENAME2: {
    decode(v, b, o, end) {
      atLeast(end - o, 18, "fuse_rename2_in", o);
      const newdir = v.getBigUint64(o, true);
      const flags = v.getUint32(o + 8, true);
      const padding = v.getUint32(o + 12, true);
      const [oldname, newname] = twoNames(b, o + 16, end, "oldname", "newname");
      return { newdir, flags, padding, oldname, newname };
    },
    size: (x) => 16 + nameLength(x.oldname) + nameLength(x.newname) + 2,
    encode(v, b, o, x) {
      v.setBigUint64(o, x.newdir, true);
      v.setUint32(o + 8, x.flags, true);
      v.setUint32(o + 12, x.padding, true);
      writeCName(b, writeCName(b, o + 16, x.oldname), x.newname);
    },
  },
  LSEEK: {
    decode(v, _b, o, end) {
      exact(end - o, 24, "fuse_lseek_in", o);
      return {
        fh: v.getBigUint64(o, true),
        offset: v.getBigUint64(o + 8, true),
        whence: v.getUint32(o + 16, true),
        padding: v.getUint32(o + 20, true),
      };
    },
    size: () => 24,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.fh, true);
      v.setBigUint64(o + 8, x.offset, true);
      v.setUint32(o + 16, x.whence, true);
      v.setUint32(o + 20, x.padding, true);
    },
  },
  COPY_FILE_RANGE: copyFileRangeIn,
  SETUPMAPPING: {
    decode(v, _b, o, end) {
      exact(end - o, 40, "fuse_setupmapping_in", o);
      return {
        fh: v.getBigUint64(o, true),
        foffset: v.getBigUint64(o + 8, true),
        len: v.getBigUint64(o + 16, true),
        flags: v.getBigUint64(o + 24, true),
        moffset: v.getBigUint64(o + 32, true),
      };
    },
    size: () => 40,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.fh, true);
      v.setBigUint64(o + 8, x.foffset, true);
      v.setBigUint64(o + 16, x.len, true);
      v.setBigUint64(o + 24, x.flags, true);
      v.setBigUint64(o + 32, x.moffset, true);
    },
  },
  // fuse_removemapping_in: 4 bytes (count), then count fuse_removemapping_one of 16
  REMOVEMAPPING: {
    decode(v, _b, o, end) {
      atLeast(end - o, 4, "fuse_removemapping_in", o);
      const count = v.getUint32(o, true);
      if (count * 16 !== end - o - 4) {
        throw new CodecError(
          "fuse_removemapping_in.count",
          o,
          `says ${count} entries (${count * 16} bytes), the message carries ${end - o - 4} bytes`,
        );
      }
      const mappings = new Array(count);
      for (let i = 0, p = o + 4; i < count; i++, p += 16) {
        mappings[i] = { moffset: v.getBigUint64(p, true), len: v.getBigUint64(p + 8, true) };
      }
      return { count, mappings };
    },
    size: (x) => 4 + 16 * x.mappings.length,
    encode(v, _b, o, x) {
      v.setUint32(o, x.mappings.length, true);
      let p = o + 4;
      for (const m of x.mappings) {
        v.setBigUint64(p, m.moffset, true);
        v.setBigUint64(p + 8, m.len, true);
        p += 16;
      }
    },
  },
  SYNCFS: {
    decode(v, _b, o, end) {
      exact(end - o, 8, "fuse_syncfs_in", o);
      return { padding: v.getBigUint64(o, true) };
    },
    size: () => 8,
    encode(v, _b, o, x) {
      v.setBigUint64(o, x.padding, true);
    },
  },
  TMPFILE: createIn,
  STATX: {
    decode(v, _b, o, end) {
      exact(end - o, 24, "fuse_statx_in", o);
      return {
        getattr_flags: v.getUint32(o, true),
        reserved: v.getUint32(o + 4, true),
        fh: v.getBigUint64(o + 8, true),
        sx_flags: v.getUint32(o + 16, true),
        sx_mask: v.getUint32(o + 20, true),
      };
    },
    size: () => 24,
    encode(v, _b, o, x) {
      v.setUint32(o, x.getattr_flags, true);
      v.setUint32(o + 4, x.reserved, true);
      v.setBigUint64(o + 8, x.fh, true);
      v.setUint32(o + 16, x.sx_flags, true);
      v.setUint32(o + 20, x.sx_mask, true);
    },
  },
  COPY_FILE_RANGE_64: copyFileRangeIn,
  CUSE_INIT: {
    decode(v, _b, o, end) {
      exact(end - o, 16, "cuse_init_in", o);
      return {
        major: v.getUint32(o, true),
        minor: v.getUint32(o + 4, true),
        unused: v.getUint32(o + 8, true),
        flags: v.getUint32(o + 12, true),
      };
    },
    size: () => 16,
    encode(v, _b, o, x) {
      v.setUint32(o, x.major, true);
      v.setUint32(o + 4, x.minor, true);
      v.setUint32(o + 8, x.unused, true);
      v.setUint32(o + 12, x.flags, true);
    },
  },
};
