/**
 * Decoded READDIR and READDIRPLUS reply bodies. Decoding checks every record
 * (lengths, alignment, bounds) at once, so malformed input still fails in the
 * decoder, but builds the entry objects only when `entries` is first read:
 * a listing that is only counted, forwarded or recorded costs no allocation
 * per entry. Like every payload, the lists read the decoded buffer, so read
 * `entries` before that buffer is reused.
 *
 * @example
 * ```ts
 * import { decodeReply, encodeReply } from "./codec.ts";
 * const bytes = encodeReply({
 *   op: "READDIR",
 *   header: { unique: 5n },
 *   body: { entries: [{ ino: 2n, off: 1n, type: 8, name: "a.txt" }] },
 * });
 * const r = decodeReply(bytes, { opcode: "READDIR" });
 * if (r.op === "READDIR" && r.body) {
 *   console.log(r.body.length); // 1, without building an entry
 *   for (const d of r.body) console.log(d.off, `${d.name}`); // 1n a.txt
 * }
 * ```
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import { FUSE_NAME_MAX } from "./constants.ts";
import { align8, atLeast, nameAt, readEntryOut } from "./_layout.ts";
import type { FuseDirent, FuseDirentplus } from "./types.ts";

/** Checks the fuse_dirent at `p` and returns its record length (8-aligned). */
function direntRecord(v: DataView, p: number, end: number): number {
  atLeast(end - p, 24, "fuse_dirent", p);
  const namelen = v.getUint32(p + 16, true);
  if (namelen === 0 || namelen > FUSE_NAME_MAX) {
    throw new CodecError("fuse_dirent.namelen", p + 16, `${namelen} is not in 1..${FUSE_NAME_MAX}`);
  }
  const reclen = (24 + namelen + 7) & ~7;
  if (reclen > end - p) {
    throw new CodecError(
      "fuse_dirent.namelen",
      p + 16,
      `record of ${reclen} bytes overruns the buffer (${end - p} bytes left)`,
    );
  }
  return reclen;
}

function readDirent(v: DataView, b: Uint8Array, p: number): FuseDirent {
  const namelen = v.getUint32(p + 16, true);
  return {
    ino: v.getBigUint64(p, true),
    off: v.getBigUint64(p + 8, true),
    namelen,
    type: v.getUint32(p + 20, true),
    name: nameAt(b, p + 24, p + 24 + namelen),
  };
}

/**
 * A READDIR reply body: `fuse_dirent` records, each 8-byte aligned. Iterable;
 * `entries` decodes them (once) into objects.
 */
export class DirentList implements Iterable<FuseDirent> {
  /** Number of entries. */
  readonly length: number;
  readonly #v: DataView;
  readonly #b: Uint8Array;
  readonly #start: number;
  readonly #end: number;
  #entries: FuseDirent[] | undefined = undefined;

  /**
   * Checks the records in bytes [start, end) of the buffer `b` (read through
   * `v`, a view of the same bytes); throws a {@linkcode CodecError} naming the
   * first bad record. Offsets in errors are relative to `b`.
   */
  constructor(v: DataView, b: Uint8Array, start: number, end: number) {
    let n = 0;
    for (let p = start; p < end; n++) p += direntRecord(v, p, end);
    this.length = n;
    this.#v = v;
    this.#b = b;
    this.#start = start;
    this.#end = end;
  }

  /** The entries as objects (decoded on first use, then cached). */
  get entries(): FuseDirent[] {
    if (this.#entries === undefined) {
      const out = new Array<FuseDirent>(this.length);
      const v = this.#v;
      for (let i = 0, p = this.#start; i < out.length; i++) {
        const d = readDirent(v, this.#b, p);
        out[i] = d;
        p += align8(24 + d.namelen);
      }
      this.#entries = out;
    }
    return this.#entries;
  }

  /** The records as they travelled (a view). */
  get bytes(): Uint8Array {
    return this.#b.subarray(this.#start, this.#end);
  }

  /** Iterates over {@linkcode entries}. */
  [Symbol.iterator](): Iterator<FuseDirent> {
    return this.entries[Symbol.iterator]();
  }

  /** `{ entries }`, as a plain body would print. */
  toJSON(): { entries: FuseDirent[] } {
    return { entries: this.entries };
  }
}

/**
 * A READDIRPLUS reply body: `fuse_direntplus` records (a 128-byte
 * `fuse_entry_out`, then a `fuse_dirent`), each 8-byte aligned. Iterable;
 * `entries` decodes them (once) into objects.
 */
export class DirentplusList implements Iterable<FuseDirentplus> {
  /** Number of entries. */
  readonly length: number;
  readonly #v: DataView;
  readonly #b: Uint8Array;
  readonly #start: number;
  readonly #end: number;
  #entries: FuseDirentplus[] | undefined = undefined;

  /** Checks the records in bytes [start, end) of `b`, as {@linkcode DirentList} does. */
  constructor(v: DataView, b: Uint8Array, start: number, end: number) {
    let n = 0;
    for (let p = start; p < end; n++) {
      atLeast(end - p, 152, "fuse_direntplus", p);
      p += 128 + direntRecord(v, p + 128, end);
    }
    this.length = n;
    this.#v = v;
    this.#b = b;
    this.#start = start;
    this.#end = end;
  }

  /** The entries as objects (decoded on first use, then cached). */
  get entries(): FuseDirentplus[] {
    if (this.#entries === undefined) {
      const out = new Array<FuseDirentplus>(this.length);
      const v = this.#v;
      for (let i = 0, p = this.#start; i < out.length; i++) {
        const entry_out = readEntryOut(v, p, false);
        const dirent = readDirent(v, this.#b, p + 128);
        out[i] = { entry_out, dirent };
        p += align8(152 + dirent.namelen);
      }
      this.#entries = out;
    }
    return this.#entries;
  }

  /** The records as they travelled (a view). */
  get bytes(): Uint8Array {
    return this.#b.subarray(this.#start, this.#end);
  }

  /** Iterates over {@linkcode entries}. */
  [Symbol.iterator](): Iterator<FuseDirentplus> {
    return this.entries[Symbol.iterator]();
  }

  /** `{ entries }`, as a plain body would print. */
  toJSON(): { entries: FuseDirentplus[] } {
    return { entries: this.entries };
  }
}
