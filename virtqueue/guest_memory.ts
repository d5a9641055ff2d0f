/**
 * Guest memory as a table of regions: each maps a range of guest-physical
 * addresses (and the front-end's user virtual addresses for the same bytes,
 * which vhost-user ring addresses use) onto a byte array. Every access from
 * the ring code is located through {@linkcode GuestMemory.locate}, the one
 * place where ranges are checked.
 *
 * @module
 */
import { GuestMemoryError } from "./errors.ts";

/** One region of guest memory, as vhost-user SET_MEM_TABLE / ADD_MEM_REG describe it. */
export interface MemoryRegionSpec {
  /** Guest-physical address of the first byte. */
  guestAddr: bigint;
  /** Length in bytes (must equal `bytes.length` or be smaller). */
  size: number;
  /** The front-end's (QEMU's) virtual address of the first byte. */
  userAddr: bigint;
  /** The bytes: an ArrayBuffer-backed array or an mmap'd region. */
  bytes: Uint8Array;
}

/** A region as stored: addresses as numbers (checked to be below 2^53). */
export interface MemoryRegion extends MemoryRegionSpec {
  /** `guestAddr` as a number. */
  readonly start: number;
  /** First guest-physical address after the region. */
  readonly end: number;
  /** `userAddr` as a number. */
  readonly userStart: number;
  /** DataView over `bytes`. */
  readonly view: DataView;
}

/** A located range: the region's bytes and the offset of the first byte in them. */
export interface Located {
  /** The region's whole byte array. */
  bytes: Uint8Array;
  /** DataView over the region's bytes. */
  view: DataView;
  /** Offset of the address inside `bytes`. */
  offset: number;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function toSafeNumber(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(MAX_SAFE)) {
    throw new RangeError(`${what} 0x${v.toString(16)} is beyond 2^53`);
  }
  return Number(v);
}

/**
 * Bounds-checked guest memory.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "./guest_memory.ts";
 * const mem = new GuestMemory([{ guestAddr: 0x1000n, size: 4096, userAddr: 0x7f00_0000_0000n, bytes: new Uint8Array(4096) }]);
 * mem.writeU32(0x1010, 7);
 * console.log(mem.readU32(0x1010), mem.userToGuest(0x7f00_0000_0010n));
 * ```
 */
export class GuestMemory {
  #regions: MemoryRegion[] = [];
  #last: MemoryRegion | undefined;

  /** Creates memory with the given regions (they must not overlap). */
  constructor(regions: MemoryRegionSpec[] = []) {
    for (const r of regions) this.addRegion(r);
  }

  /** The current regions, in guest address order. */
  get regions(): readonly MemoryRegion[] {
    return this.#regions;
  }

  /** Adds a region (vhost-user ADD_MEM_REG); throws if it overlaps another in guest or user space. */
  addRegion(spec: MemoryRegionSpec): MemoryRegion {
    if (!Number.isInteger(spec.size) || spec.size <= 0 || spec.size > spec.bytes.length) {
      throw new RangeError(`region size ${spec.size} does not fit its ${spec.bytes.length} bytes`);
    }
    const start = toSafeNumber(spec.guestAddr, "region guest address");
    const userStart = toSafeNumber(spec.userAddr, "region user address");
    const end = start + spec.size;
    if (end > MAX_SAFE || userStart + spec.size > MAX_SAFE) {
      throw new RangeError("region ends beyond 2^53");
    }
    for (const r of this.#regions) {
      if (start < r.end && r.start < end) {
        throw new RangeError(
          `region at 0x${start.toString(16)} overlaps the one at 0x${r.start.toString(16)}`,
        );
      }
      if (userStart < r.userStart + r.size && r.userStart < userStart + spec.size) {
        throw new RangeError(
          `region user address 0x${userStart.toString(16)} overlaps another region`,
        );
      }
    }
    const bytes = spec.bytes.subarray(0, spec.size);
    const region: MemoryRegion = {
      guestAddr: spec.guestAddr,
      size: spec.size,
      userAddr: spec.userAddr,
      bytes,
      start,
      end,
      userStart,
      view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    };
    this.#regions.push(region);
    this.#regions.sort((a, b) => a.start - b.start);
    return region;
  }

  /**
   * Removes the region starting at `guestAddr` (vhost-user REM_MEM_REG);
   * returns it, or `undefined` when there is none.
   */
  removeRegion(guestAddr: bigint): MemoryRegion | undefined {
    const i = this.#regions.findIndex((r) => r.guestAddr === guestAddr);
    if (i < 0) return undefined;
    const [r] = this.#regions.splice(i, 1);
    if (this.#last === r) this.#last = undefined;
    return r;
  }

  /** Removes every region (vhost-user SET_MEM_TABLE replaces the table). */
  clear(): void {
    this.#regions = [];
    this.#last = undefined;
  }

  /**
   * The one bounds check: the region holding all of `[gpa, gpa + len)`, or
   * `undefined` when the range is not inside a single region. `len` 0 is
   * accepted at any address inside a region or at its end.
   */
  region(gpa: number, len: number): MemoryRegion | undefined {
    const c = this.#last;
    if (c !== undefined && gpa >= c.start && gpa + len <= c.end) return c;
    if (!(gpa >= 0 && len >= 0 && gpa + len <= MAX_SAFE)) return undefined;
    const rs = this.#regions;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i];
      if (gpa >= r.start && gpa + len <= r.end) {
        this.#last = r;
        return r;
      }
    }
    return undefined;
  }

  /** Locates `[gpa, gpa + len)` or throws {@linkcode GuestMemoryError}. */
  locate(gpa: number, len: number): Located {
    const r = this.region(gpa, len);
    if (r === undefined) throw new GuestMemoryError(BigInt(Math.max(0, Math.floor(gpa))), len);
    return { bytes: r.bytes, view: r.view, offset: gpa - r.start };
  }

  /** A view (no copy) of `len` bytes at `gpa`; throws when outside memory. */
  slice(gpa: number, len: number): Uint8Array {
    const r = this.region(gpa, len);
    if (r === undefined) throw new GuestMemoryError(BigInt(Math.max(0, Math.floor(gpa))), len);
    const o = gpa - r.start;
    return r.bytes.subarray(o, o + len);
  }

  /** Copies `len` bytes at `gpa` out of guest memory. */
  read(gpa: number, len: number): Uint8Array {
    return this.slice(gpa, len).slice();
  }

  /** Copies `data` into guest memory at `gpa`. */
  write(gpa: number, data: Uint8Array): void {
    this.slice(gpa, data.length).set(data);
  }

  /** Reads a little-endian u16. */
  readU16(gpa: number): number {
    const l = this.locate(gpa, 2);
    return l.view.getUint16(l.offset, true);
  }

  /** Reads a little-endian u32. */
  readU32(gpa: number): number {
    const l = this.locate(gpa, 4);
    return l.view.getUint32(l.offset, true);
  }

  /** Reads a little-endian u64 as a bigint. */
  readU64(gpa: number): bigint {
    const l = this.locate(gpa, 8);
    return l.view.getBigUint64(l.offset, true);
  }

  /** Writes a little-endian u16. */
  writeU16(gpa: number, value: number): void {
    const l = this.locate(gpa, 2);
    l.view.setUint16(l.offset, value, true);
  }

  /** Writes a little-endian u32. */
  writeU32(gpa: number, value: number): void {
    const l = this.locate(gpa, 4);
    l.view.setUint32(l.offset, value, true);
  }

  /** Writes a little-endian u64. */
  writeU64(gpa: number, value: bigint): void {
    const l = this.locate(gpa, 8);
    l.view.setBigUint64(l.offset, value, true);
  }

  /** True when `[gpa, gpa + len)` lies inside one region. */
  contains(gpa: bigint, len: number): boolean {
    if (gpa < 0n || gpa > BigInt(MAX_SAFE)) return false;
    return this.region(Number(gpa), len) !== undefined;
  }

  /** Translates a front-end user virtual address to guest-physical; throws when unmapped. */
  userToGuest(uaddr: bigint, len = 1): bigint {
    if (uaddr >= 0n && uaddr <= BigInt(MAX_SAFE)) {
      const u = Number(uaddr);
      for (const r of this.#regions) {
        if (u >= r.userStart && u + len <= r.userStart + r.size) {
          return r.guestAddr + (uaddr - r.userAddr);
        }
      }
    }
    throw new GuestMemoryError(uaddr, len, "user address");
  }

  /** Translates a guest-physical address to the front-end's user virtual address. */
  guestToUser(gpa: bigint, len = 1): bigint {
    if (!this.contains(gpa, len)) throw new GuestMemoryError(gpa, len);
    const r = this.region(Number(gpa), len)!;
    return r.userAddr + (gpa - r.guestAddr);
  }
}

/**
 * Converts a descriptor's 64-bit address, given as its low and high 32-bit
 * halves, to a number; returns -1 when it is at or beyond 2^53 (which no
 * region can hold, so the caller's range check fails).
 */
export function addrFromHalves(lo: number, hi: number): number {
  if (hi >= 0x200000) return -1;
  return hi * 0x1_0000_0000 + lo;
}
