/**
 * Private: reading FUSE fields straight from message bytes, for the
 * analyzers' hot paths (no decoded objects, u64s as numbers where exact).
 * Offsets are those of include/uapi/linux/fuse.h: fuse_in_header is 40
 * bytes, fuse_out_header 16.
 *
 * @module
 */
import { nameText } from "../codecs/fuse/mod.ts";

/** A u64 as a Map key: a number when it is below 2^53 (always, in practice), else the bigint. */
export type Key = number | bigint;

const TWO_32 = 4294967296;
/** Above this high word a u64 no longer fits a double exactly. */
const SAFE_HIGH = 0x200000;

/** The little-endian u32 at `b[p]`. */
export function le32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/** The little-endian u64 at `b[p]` as a bigint. */
export function le64(b: Uint8Array, p: number): bigint {
  return (BigInt(le32(b, p + 4)) << 32n) | BigInt(le32(b, p));
}

/** The little-endian u64 at `b[p]` as a {@linkcode Key}. */
export function u64Key(b: Uint8Array, p: number): Key {
  const high = le32(b, p + 4);
  return high < SAFE_HIGH ? high * TWO_32 + le32(b, p) : le64(b, p);
}

/** The little-endian u64 at `b[p]` as a number (rounded above 2^53: for counts). */
export function u64Number(b: Uint8Array, p: number): number {
  return le32(b, p + 4) * TWO_32 + le32(b, p);
}

/** A bigint as a {@linkcode Key}. */
export function keyOf(v: bigint | number): Key {
  if (typeof v === "number") return v;
  return v < 9007199254740992n && v >= 0n ? Number(v) : v;
}

/** A {@linkcode Key} as a bigint. */
export function bigOf(k: Key): bigint {
  return typeof k === "bigint" ? k : BigInt(k);
}

/**
 * The NUL-terminated name at `b[start, end)` as text (ASCII by hand, else
 * as the codec's `nameText`: UTF-8, invalid bytes as `\xNN`).
 */
export function nameAt(b: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && b[stop] !== 0) stop++;
  if (stop - start <= 64) {
    let s = "";
    let i = start;
    for (; i < stop; i++) {
      const c = b[i];
      if (c >= 0x80) break;
      s += String.fromCharCode(c);
    }
    if (i === stop) return s;
  }
  return nameText(b.subarray(start, stop));
}
