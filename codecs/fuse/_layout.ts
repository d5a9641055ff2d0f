/**
 * Private: the byte layouts of the fixed FUSE structs, one reader and one
 * writer per struct, offsets as in `include/uapi/linux/fuse.h` (all fields
 * little-endian, as the kernel uses host order and ringside serves x86_64 and
 * aarch64 guests). Callers check the length once before calling a reader, so
 * readers never go past the input.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import type {
  FuseAttr,
  FuseAttrOut,
  FuseEntryOut,
  FuseFileLock,
  FuseKstatfs,
  FuseOpenOut,
  FuseStatx,
  FuseSxTime,
} from "./types.ts";
import { FuseName, type NameInit } from "./names.ts";

const utf8Decoder = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** Throws a CodecError unless `have` is exactly `want`. */
export function exact(have: number, want: number, field: string, offset: number): void {
  if (have !== want) {
    throw new CodecError(field, offset, `expected ${want} bytes, found ${have}`);
  }
}

/** Throws a CodecError unless at least `want` bytes are left. */
export function atLeast(have: number, want: number, field: string, offset: number): void {
  if (have < want) {
    throw new CodecError(field, offset, `expected at least ${want} bytes, found ${have}`);
  }
}

/** Decodes bytes [start, end) as UTF-8, with a fast path for short ASCII names. */
export function text(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) {
    let s = "";
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c >= 0x80) return utf8Decoder.decode(b.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8Decoder.decode(b.subarray(start, end));
}

/** Where the string read by the last {@linkcode cstring} call ended (after its NUL). */
export let cstringEnd = 0;

/**
 * Reads a NUL-terminated string starting at `start` that must end before
 * `end`; sets {@linkcode cstringEnd} to the offset after the NUL.
 */
export function cstring(b: Uint8Array, start: number, end: number, field: string): string {
  const nul = b.indexOf(0, start);
  if (nul < 0 || nul >= end) {
    throw new CodecError(field, start, `no NUL terminator within ${end - start} bytes`);
  }
  cstringEnd = nul + 1;
  return text(b, start, nul);
}

/** A {@linkcode FuseName} viewing bytes [start, end) of `b` (no copy). */
export function nameAt(b: Uint8Array, start: number, end: number): FuseName {
  return new FuseName(b.buffer as ArrayBuffer, b.byteOffset + start, end - start);
}

/**
 * Reads a NUL-terminated name starting at `start` that must end before `end`,
 * as a view; sets {@linkcode cstringEnd} to the offset after the NUL.
 */
export function cname(b: Uint8Array, start: number, end: number, field: string): FuseName {
  const nul = b.indexOf(0, start);
  if (nul < 0 || nul >= end) {
    throw new CodecError(field, start, `no NUL terminator within ${end - start} bytes`);
  }
  cstringEnd = nul + 1;
  return new FuseName(b.buffer as ArrayBuffer, b.byteOffset + start, nul - start);
}

/** Encoded length of a name (bytes as they are, a string as UTF-8). */
export function nameLength(n: NameInit): number {
  return typeof n === "string" ? utf8Length(n) : n.length;
}

/** Writes a name at `off` (sized with {@linkcode nameLength}); returns the end. */
export function writeName(b: Uint8Array, off: number, n: NameInit): number {
  if (typeof n === "string") return writeText(b, off, n);
  const len = n.length;
  if (len > 32) b.set(n, off);
  else for (let i = 0; i < len; i++) b[off + i] = n[i];
  return off + len;
}

/** Writes a name and a NUL at `off`; returns the end. */
export function writeCName(b: Uint8Array, off: number, n: NameInit): number {
  const end = writeName(b, off, n);
  b[end] = 0;
  return end + 1;
}

/** UTF-8 length of `s`. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 4 bytes for 2 UTF-16 units
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}

/** Writes `s` as UTF-8 at `off` (the caller sized the buffer with {@linkcode utf8Length}); returns the end. */
export function writeText(b: Uint8Array, off: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      return off + i + utf8Encoder.encodeInto(s.slice(i), b.subarray(off + i)).written;
    }
    b[off + i] = c;
  }
  return off + n;
}

/** Writes `s` and a NUL at `off`; returns the end. */
export function writeCString(b: Uint8Array, off: number, s: string): number {
  const end = writeText(b, off, s);
  b[end] = 0;
  return end + 1;
}

/** Rounds up to the next multiple of 8 (`FUSE_REC_ALIGN`). */
export function align8(n: number): number {
  return (n + 7) & ~7;
}

// fuse_attr: 88 bytes (80 below 7.9: no blksize, flags)
export function readAttr(v: DataView, o: number, compat: boolean): FuseAttr {
  return {
    ino: v.getBigUint64(o, true),
    size: v.getBigUint64(o + 8, true),
    blocks: v.getBigUint64(o + 16, true),
    atime: v.getBigUint64(o + 24, true),
    mtime: v.getBigUint64(o + 32, true),
    ctime: v.getBigUint64(o + 40, true),
    atimensec: v.getUint32(o + 48, true),
    mtimensec: v.getUint32(o + 52, true),
    ctimensec: v.getUint32(o + 56, true),
    mode: v.getUint32(o + 60, true),
    nlink: v.getUint32(o + 64, true),
    uid: v.getUint32(o + 68, true),
    gid: v.getUint32(o + 72, true),
    rdev: v.getUint32(o + 76, true),
    blksize: compat ? 0 : v.getUint32(o + 80, true),
    flags: compat ? 0 : v.getUint32(o + 84, true),
  };
}

export function writeAttr(v: DataView, o: number, a: FuseAttr, compat: boolean): void {
  v.setBigUint64(o, a.ino, true);
  v.setBigUint64(o + 8, a.size, true);
  v.setBigUint64(o + 16, a.blocks, true);
  v.setBigUint64(o + 24, a.atime, true);
  v.setBigUint64(o + 32, a.mtime, true);
  v.setBigUint64(o + 40, a.ctime, true);
  v.setUint32(o + 48, a.atimensec, true);
  v.setUint32(o + 52, a.mtimensec, true);
  v.setUint32(o + 56, a.ctimensec, true);
  v.setUint32(o + 60, a.mode, true);
  v.setUint32(o + 64, a.nlink, true);
  v.setUint32(o + 68, a.uid, true);
  v.setUint32(o + 72, a.gid, true);
  v.setUint32(o + 76, a.rdev, true);
  if (!compat) {
    v.setUint32(o + 80, a.blksize, true);
    v.setUint32(o + 84, a.flags, true);
  }
}

/** Size of fuse_entry_out at `minor`. */
export function entryOutSize(minor: number): number {
  return minor < 9 ? 120 : 128;
}

// fuse_entry_out: 128 bytes (120 below 7.9)
export function readEntryOut(v: DataView, o: number, compat: boolean): FuseEntryOut {
  return {
    nodeid: v.getBigUint64(o, true),
    generation: v.getBigUint64(o + 8, true),
    entry_valid: v.getBigUint64(o + 16, true),
    attr_valid: v.getBigUint64(o + 24, true),
    entry_valid_nsec: v.getUint32(o + 32, true),
    attr_valid_nsec: v.getUint32(o + 36, true),
    attr: readAttr(v, o + 40, compat),
  };
}

export function writeEntryOut(v: DataView, o: number, e: FuseEntryOut, compat: boolean): void {
  v.setBigUint64(o, e.nodeid, true);
  v.setBigUint64(o + 8, e.generation, true);
  v.setBigUint64(o + 16, e.entry_valid, true);
  v.setBigUint64(o + 24, e.attr_valid, true);
  v.setUint32(o + 32, e.entry_valid_nsec, true);
  v.setUint32(o + 36, e.attr_valid_nsec, true);
  writeAttr(v, o + 40, e.attr, compat);
}

// fuse_attr_out: 104 bytes (96 below 7.9)
export function readAttrOut(v: DataView, o: number, compat: boolean): FuseAttrOut {
  return {
    attr_valid: v.getBigUint64(o, true),
    attr_valid_nsec: v.getUint32(o + 8, true),
    dummy: v.getUint32(o + 12, true),
    attr: readAttr(v, o + 16, compat),
  };
}

export function writeAttrOut(v: DataView, o: number, a: FuseAttrOut, compat: boolean): void {
  v.setBigUint64(o, a.attr_valid, true);
  v.setUint32(o + 8, a.attr_valid_nsec, true);
  v.setUint32(o + 12, a.dummy, true);
  writeAttr(v, o + 16, a.attr, compat);
}

// fuse_open_out: 16 bytes
export function readOpenOut(v: DataView, o: number): FuseOpenOut {
  return {
    fh: v.getBigUint64(o, true),
    open_flags: v.getUint32(o + 8, true),
    backing_id: v.getInt32(o + 12, true),
  };
}

export function writeOpenOut(v: DataView, o: number, x: FuseOpenOut): void {
  v.setBigUint64(o, x.fh, true);
  v.setUint32(o + 8, x.open_flags, true);
  v.setInt32(o + 12, x.backing_id, true);
}

// fuse_kstatfs: 80 bytes (48 below 7.4: through namelen)
export function readKstatfs(v: DataView, o: number, compat: boolean): FuseKstatfs {
  return {
    blocks: v.getBigUint64(o, true),
    bfree: v.getBigUint64(o + 8, true),
    bavail: v.getBigUint64(o + 16, true),
    files: v.getBigUint64(o + 24, true),
    ffree: v.getBigUint64(o + 32, true),
    bsize: v.getUint32(o + 40, true),
    namelen: v.getUint32(o + 44, true),
    frsize: compat ? 0 : v.getUint32(o + 48, true),
    padding: compat ? 0 : v.getUint32(o + 52, true),
  };
}

export function writeKstatfs(v: DataView, o: number, s: FuseKstatfs, compat: boolean): void {
  v.setBigUint64(o, s.blocks, true);
  v.setBigUint64(o + 8, s.bfree, true);
  v.setBigUint64(o + 16, s.bavail, true);
  v.setBigUint64(o + 24, s.files, true);
  v.setBigUint64(o + 32, s.ffree, true);
  v.setUint32(o + 40, s.bsize, true);
  v.setUint32(o + 44, s.namelen, true);
  if (!compat) {
    v.setUint32(o + 48, s.frsize, true);
    v.setUint32(o + 52, s.padding, true);
  }
}

// fuse_file_lock: 24 bytes
export function readFileLock(v: DataView, o: number): FuseFileLock {
  return {
    start: v.getBigUint64(o, true),
    end: v.getBigUint64(o + 8, true),
    type: v.getUint32(o + 16, true),
    pid: v.getUint32(o + 20, true),
  };
}

export function writeFileLock(v: DataView, o: number, l: FuseFileLock): void {
  v.setBigUint64(o, l.start, true);
  v.setBigUint64(o + 8, l.end, true);
  v.setUint32(o + 16, l.type, true);
  v.setUint32(o + 20, l.pid, true);
}

// fuse_sx_time: 16 bytes (tv_sec signed)
function readSxTime(v: DataView, o: number): FuseSxTime {
  return { tv_sec: v.getBigInt64(o, true), tv_nsec: v.getUint32(o + 8, true) };
}

function writeSxTime(v: DataView, o: number, t: FuseSxTime): void {
  v.setBigInt64(o, t.tv_sec, true);
  v.setUint32(o + 8, t.tv_nsec, true);
}

// fuse_statx: 256 bytes
export function readStatx(v: DataView, o: number): FuseStatx {
  return {
    mask: v.getUint32(o, true),
    blksize: v.getUint32(o + 4, true),
    attributes: v.getBigUint64(o + 8, true),
    nlink: v.getUint32(o + 16, true),
    uid: v.getUint32(o + 20, true),
    gid: v.getUint32(o + 24, true),
    mode: v.getUint16(o + 28, true),
    ino: v.getBigUint64(o + 32, true),
    size: v.getBigUint64(o + 40, true),
    blocks: v.getBigUint64(o + 48, true),
    attributes_mask: v.getBigUint64(o + 56, true),
    atime: readSxTime(v, o + 64),
    btime: readSxTime(v, o + 80),
    ctime: readSxTime(v, o + 96),
    mtime: readSxTime(v, o + 112),
    rdev_major: v.getUint32(o + 128, true),
    rdev_minor: v.getUint32(o + 132, true),
    dev_major: v.getUint32(o + 136, true),
    dev_minor: v.getUint32(o + 140, true),
  };
}

export function writeStatx(v: DataView, o: number, s: FuseStatx): void {
  v.setUint32(o, s.mask, true);
  v.setUint32(o + 4, s.blksize, true);
  v.setBigUint64(o + 8, s.attributes, true);
  v.setUint32(o + 16, s.nlink, true);
  v.setUint32(o + 20, s.uid, true);
  v.setUint32(o + 24, s.gid, true);
  v.setUint16(o + 28, s.mode, true);
  v.setBigUint64(o + 32, s.ino, true);
  v.setBigUint64(o + 40, s.size, true);
  v.setBigUint64(o + 48, s.blocks, true);
  v.setBigUint64(o + 56, s.attributes_mask, true);
  writeSxTime(v, o + 64, s.atime);
  writeSxTime(v, o + 80, s.btime);
  writeSxTime(v, o + 96, s.ctime);
  writeSxTime(v, o + 112, s.mtime);
  v.setUint32(o + 128, s.rdev_major, true);
  v.setUint32(o + 132, s.rdev_minor, true);
  v.setUint32(o + 136, s.dev_major, true);
  v.setUint32(o + 140, s.dev_minor, true);
}
