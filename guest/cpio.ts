/**
 * A writer (and a reader, for tests and checks) of the "newc" cpio format that
 * the Linux kernel unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
 *
 * Each entry is a 110-byte ASCII header ("070701" and thirteen 8-digit hex
 * fields), the NUL-terminated name padded to a multiple of 4 bytes, then the
 * data padded to a multiple of 4. An archive ends with the entry
 * `TRAILER!!!`. Archives written here are 4-byte aligned by construction, so
 * several can be concatenated (the kernel unpacks them in order; later entries
 * replace earlier ones).
 *
 * ```ts
 * import { cpioDir, cpioFile, encodeCpio } from "./cpio.ts";
 * const bytes = encodeCpio([cpioDir("etc"), cpioFile("etc/motd", new TextEncoder().encode("hi\n"))]);
 * ```
 *
 * @module
 */

/** File type bits of `st_mode`. */
export const S_IFMT = 0o170000;
/** Regular file. */
export const S_IFREG = 0o100000;
/** Directory. */
export const S_IFDIR = 0o040000;
/** Symbolic link (the data is the target). */
export const S_IFLNK = 0o120000;
/** Character device. */
export const S_IFCHR = 0o020000;

const MAGIC = "070701";
const HEADER_SIZE = 110;
const TRAILER = "TRAILER!!!";

/** One archive member. */
export interface CpioEntry {
  /** Path inside the archive, without a leading `/` (`bin/sh`). */
  path: string;
  /** Full `st_mode`: file type bits and permissions. */
  mode: number;
  /** File contents, or the target of a symbolic link. Empty for directories and devices. */
  data?: Uint8Array;
  /** Device major and minor number, for device nodes. */
  rdev?: { major: number; minor: number };
  /** Modification time in seconds since the epoch (default 0, for reproducible archives). */
  mtime?: number;
}

/** Permission bits of a new entry. */
export interface CpioPermOptions {
  /** Permission bits (default 0o644 for files, 0o600 for devices). */
  perm?: number;
}

/** A regular file entry. */
export function cpioFile(path: string, data: Uint8Array, options: CpioPermOptions = {}): CpioEntry {
  return { path, mode: S_IFREG | ((options.perm ?? 0o644) & 0o7777), data };
}

/** A directory entry with permission bits `perm` (default 0o755). */
export function cpioDir(path: string, perm = 0o755): CpioEntry {
  return { path, mode: S_IFDIR | (perm & 0o7777) };
}

/** A symbolic link `path` pointing at `target`. */
export function cpioSymlink(path: string, target: string): CpioEntry {
  return { path, mode: S_IFLNK | 0o777, data: new TextEncoder().encode(target) };
}

/** A character device node (`/dev/console` is 5:1, `/dev/null` 1:3). */
export function cpioCharDevice(
  path: string,
  device: { major: number; minor: number },
  options: CpioPermOptions = {},
): CpioEntry {
  return { path, mode: S_IFCHR | ((options.perm ?? 0o600) & 0o7777), rdev: device };
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function hex8(value: number, field: string, path: string): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(
      `cpio: ${field} of ${JSON.stringify(path)} does not fit 32 bits: ${value}`,
    );
  }
  return value.toString(16).padStart(8, "0");
}

/** Options for {@linkcode encodeCpio}. */
export interface EncodeCpioOptions {
  /** Inode number of the first entry (default 1); every entry gets its own. */
  firstInode?: number;
}

/**
 * Encodes `entries` (in the given order: parents before children) as one newc
 * archive ending with the trailer. The result length is a multiple of 4.
 */
export function encodeCpio(entries: CpioEntry[], options: EncodeCpioOptions = {}): Uint8Array {
  const enc = new TextEncoder();
  const all: CpioEntry[] = [...entries, { path: TRAILER, mode: 0 }];
  const parts: Uint8Array[] = [];
  let total = 0;
  let ino = options.firstInode ?? 1;
  for (const e of all) {
    const trailer = e === all[all.length - 1];
    if (!trailer && (e.path === "" || e.path.startsWith("/") || e.path.includes("\0"))) {
      throw new RangeError(`cpio: bad path ${JSON.stringify(e.path)}`);
    }
    const name = enc.encode(e.path + "\0");
    const data = e.data ?? new Uint8Array(0);
    const isDir = (e.mode & S_IFMT) === S_IFDIR;
    const header = MAGIC +
      hex8(trailer ? 0 : ino++, "ino", e.path) +
      hex8(e.mode, "mode", e.path) +
      hex8(0, "uid", e.path) +
      hex8(0, "gid", e.path) +
      hex8(trailer ? 1 : isDir ? 2 : 1, "nlink", e.path) +
      hex8(e.mtime ?? 0, "mtime", e.path) +
      hex8(data.length, "filesize", e.path) +
      hex8(0, "devmajor", e.path) +
      hex8(0, "devminor", e.path) +
      hex8(e.rdev?.major ?? 0, "rdevmajor", e.path) +
      hex8(e.rdev?.minor ?? 0, "rdevminor", e.path) +
      hex8(name.length, "namesize", e.path) +
      hex8(0, "check", e.path);
    const head = enc.encode(header);
    parts.push(head, name, new Uint8Array(pad4(HEADER_SIZE + name.length)));
    parts.push(data, new Uint8Array(pad4(data.length)));
    total += HEADER_SIZE + name.length + pad4(HEADER_SIZE + name.length) + data.length +
      pad4(data.length);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Decodes a newc archive (or several concatenated ones) into its entries,
 * trailers left out. Throws a `RangeError` naming the byte offset on a bad
 * magic, a truncated header, name or body.
 */
export function decodeCpio(bytes: Uint8Array): CpioEntry[] {
  const dec = new TextDecoder();
  const out: CpioEntry[] = [];
  let off = 0;
  while (off < bytes.length) {
    // the kernel skips zero padding between concatenated archives
    if (bytes[off] === 0) {
      off++;
      continue;
    }
    if (off + HEADER_SIZE > bytes.length) {
      throw new RangeError(`cpio: truncated header at byte ${off}`);
    }
    const head = dec.decode(bytes.subarray(off, off + HEADER_SIZE));
    if (head.slice(0, 6) !== MAGIC) throw new RangeError(`cpio: bad magic at byte ${off}`);
    const field = (i: number) => {
      const s = head.slice(6 + 8 * i, 14 + 8 * i);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) {
        throw new RangeError(`cpio: bad hex field ${i} at byte ${off + 6 + 8 * i}`);
      }
      return parseInt(s, 16);
    };
    const mode = field(1);
    const mtime = field(5);
    const size = field(6);
    const rdev = { major: field(9), minor: field(10) };
    const nameSize = field(11);
    const nameStart = off + HEADER_SIZE;
    const dataStart = nameStart + nameSize + pad4(HEADER_SIZE + nameSize);
    if (nameSize < 1 || nameStart + nameSize > bytes.length) {
      throw new RangeError(`cpio: truncated name at byte ${nameStart}`);
    }
    const path = dec.decode(bytes.subarray(nameStart, nameStart + nameSize - 1));
    if (dataStart + size > bytes.length) {
      throw new RangeError(`cpio: truncated body of ${JSON.stringify(path)} at byte ${dataStart}`);
    }
    off = dataStart + size + pad4(size);
    if (path === TRAILER) continue;
    const entry: CpioEntry = { path, mode, mtime, data: bytes.slice(dataStart, dataStart + size) };
    if ((mode & S_IFMT) === S_IFCHR) entry.rdev = rdev;
    out.push(entry);
  }
  return out;
}
