/**
 * A descriptor chain as the device sees it: a readable byte stream and a
 * writable byte stream, each made of the buffers of the chain's descriptors
 * in order, crossing descriptor boundaries at any byte.
 *
 * @module
 */
import type { GuestMemory } from "./guest_memory.ts";
import { VirtqueueError } from "./errors.ts";

const NO_BYTES = new Uint8Array(0);

/**
 * An empty array already of the elements kind it ends up with (V8 tracks
 * whether an array holds small integers, doubles or objects, and compiled
 * code expects the kind it saw): a fresh chain's arrays then have the same
 * map as a reused one's, whatever the first offset stored, and the first
 * chains of a new guest do not throw away the code a warm-up compiled.
 */
function emptyNumbers(): number[] {
  const a = [0.5];
  a.length = 0;
  return a;
}

function emptyRegions(): Uint8Array[] {
  const a = [NO_BYTES];
  a.length = 0;
  return a;
}

/**
 * One available buffer popped by a device queue. The segments point straight
 * into guest memory (no copy); they stay valid while the region is mapped.
 */
export class DescChain {
  /** The id to return in the used ring: the head index (split) or the buffer id (packed). */
  id: number;
  /** Ring descriptors this chain occupies (packed rings skip this many on use). */
  ringSlots = 0;
  /** Descriptors walked, including those of an indirect table. */
  descCount = 0;
  /** Set when the chain is malformed; such a chain carries no usable segments. */
  error: VirtqueueError | undefined = undefined;
  /** Total bytes of the device-readable buffers. */
  readableLength = 0;
  /** Total bytes of the device-writable buffers. */
  writableLength = 0;
  /** Bytes written so far by {@linkcode DescChain.write}. */
  written = 0;
  /** Readable segments: the first `rCount` entries of `rBytes`, `rOff` and `rLen`. */
  rCount = 0;
  /** Writable segments: the first `wCount` entries of `wBytes`, `wOff` and `wLen`. */
  wCount = 0;

  /**
   * Region bytes of each readable segment. The six segment arrays are kept
   * when a device queue reuses the chain for a later buffer, so entries past
   * `rCount` / `wCount` are stale: read only that many.
   */
  readonly rBytes: Uint8Array[] = emptyRegions();
  /** Offset of each readable segment inside its region bytes. */
  readonly rOff: number[] = emptyNumbers();
  /** Length of each readable segment. */
  readonly rLen: number[] = emptyNumbers();
  /** Region bytes of each writable segment. */
  readonly wBytes: Uint8Array[] = emptyRegions();
  /** Offset of each writable segment inside its region bytes. */
  readonly wOff: number[] = emptyNumbers();
  /** Length of each writable segment. */
  readonly wLen: number[] = emptyNumbers();

  /** Creates an empty chain with the given id. */
  constructor(id: number) {
    this.id = id;
  }

  /**
   * Empties the chain for reuse under `id`, keeping the segment arrays'
   * storage: a device queue walking a 258-descriptor WRITE into a recycled
   * chain allocates nothing.
   */
  reset(id: number): void {
    this.id = id;
    this.ringSlots = 0;
    this.descCount = 0;
    this.error = undefined;
    this.readableLength = 0;
    this.writableLength = 0;
    this.written = 0;
    this.rCount = 0;
    this.wCount = 0;
  }

  /**
   * Adds one descriptor's buffer after checking it lies in guest memory and
   * that no readable buffer follows a writable one; returns false (and sets
   * {@linkcode DescChain.error}) when it does not.
   */
  addBuffer(mem: GuestMemory, addr: number, len: number, writable: boolean): boolean {
    if (len === 0) {
      return true;
    }
    const r = mem.region(addr, len);
    if (r === undefined) {
      this.error = new VirtqueueError(
        "address-out-of-memory",
        `descriptor buffer 0x${
          addr < 0 ? "?" : addr.toString(16)
        } (+${len}) is outside guest memory`,
        this.id,
      );
      return false;
    }
    const off = addr - r.start;
    if (writable) {
      const n = this.wCount;
      this.wBytes[n] = r.bytes;
      this.wOff[n] = off;
      this.wLen[n] = len;
      this.wCount = n + 1;
      this.writableLength += len;
    } else {
      if (this.wCount > 0) {
        this.error = new VirtqueueError(
          "readable-after-writable",
          "a device-readable descriptor follows a device-writable one",
          this.id,
        );
        return false;
      }
      const n = this.rCount;
      this.rBytes[n] = r.bytes;
      this.rOff[n] = off;
      this.rLen[n] = len;
      this.rCount = n + 1;
      this.readableLength += len;
    }
    return true;
  }

  /**
   * The whole readable part as one array: a view into guest memory (no copy)
   * when it is one buffer, otherwise a fresh copy.
   */
  readAll(): Uint8Array {
    if (this.rCount === 1) {
      return this.rBytes[0].subarray(this.rOff[0], this.rOff[0] + this.rLen[0]);
    }
    const out = new Uint8Array(this.readableLength);
    this.readInto(out);
    return out;
  }

  /**
   * Copies readable bytes starting at stream offset `offset` into `dst`;
   * returns how many were copied (less than `dst.length` at the end).
   */
  readInto(dst: Uint8Array, offset = 0): number {
    let copied = 0;
    let skip = offset;
    for (let i = 0; i < this.rCount && copied < dst.length; i++) {
      const len = this.rLen[i];
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const take = Math.min(len - skip, dst.length - copied);
      const start = this.rOff[i] + skip;
      dst.set(this.rBytes[i].subarray(start, start + take), copied);
      copied += take;
      skip = 0;
    }
    return copied;
  }

  /**
   * Writes a reply (one array or a list of parts) at the start of the
   * writable stream, scattering it over the writable buffers; returns the
   * bytes written (also kept in {@linkcode DescChain.written}). Throws a
   * `reply-too-long` {@linkcode VirtqueueError}, writing nothing, when the
   * reply does not fit.
   */
  write(reply: Uint8Array | readonly Uint8Array[]): number {
    const parts = reply instanceof Uint8Array ? [reply] : reply;
    let total = 0;
    for (let i = 0; i < parts.length; i++) total += parts[i].length;
    if (total > this.writableLength) {
      throw new VirtqueueError(
        "reply-too-long",
        `reply of ${total} bytes exceeds the chain's ${this.writableLength} writable bytes`,
        this.id,
      );
    }
    let seg = 0;
    let segPos = 0;
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p];
      let done = 0;
      while (done < part.length) {
        const room = this.wLen[seg] - segPos;
        if (room === 0) {
          seg++;
          segPos = 0;
          continue;
        }
        const take = Math.min(room, part.length - done);
        const dst = this.wOff[seg] + segPos;
        this.wBytes[seg].set(
          take === part.length ? part : part.subarray(done, done + take),
          dst,
        );
        done += take;
        segPos += take;
      }
    }
    this.written = total;
    return total;
  }
}
