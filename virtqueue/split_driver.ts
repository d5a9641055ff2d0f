/**
 * The driver side of a split virtqueue: what a guest's virtio driver does.
 * Used by tests, the simulated guest and the vhost-user front-end.
 *
 * @module
 */
import { BufferPool } from "./buffer_pool.ts";
import { VirtqueueError } from "./errors.ts";
import type { GuestMemory } from "./guest_memory.ts";
import { locateRingPart } from "./split_device.ts";
import type { DriverQueue, DriverQueueOptions, QueueConfig, UsedBuffer } from "./types.ts";
import {
  checkSplitQueueSize,
  splitRingSizes,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F,
  VIRTQ_USED_F_NO_NOTIFY,
  vringNeedEvent,
} from "../codecs/virtio/mod.ts";

/** One guest buffer: address and length. */
interface Piece {
  addr: number;
  len: number;
}

/** What the driver remembers about a buffer in flight. */
interface InFlight {
  token: number;
  descs: number[];
  pieces: Piece[];
  writable: Piece[];
  table: Piece | undefined;
}

/** Allocates pieces for `readable` data and `writable` sizes; undefined when memory is short. */
export function allocPieces(
  pool: BufferPool,
  mem: GuestMemory,
  readable: readonly Uint8Array[],
  writableSizes: readonly number[],
): { read: Piece[]; write: Piece[] } | undefined {
  const read: Piece[] = [];
  const write: Piece[] = [];
  const undo = () => {
    for (const p of [...read, ...write]) pool.free(p.addr, p.len);
  };
  for (const data of readable) {
    const a = pool.alloc(data.length);
    if (a < 0) {
      undo();
      return undefined;
    }
    read.push({ addr: a, len: data.length });
    if (data.length > 0) mem.write(a, data);
  }
  for (const n of writableSizes) {
    const a = pool.alloc(n);
    if (a < 0) {
      undo();
      return undefined;
    }
    write.push({ addr: a, len: n });
  }
  return { read, write };
}

/** What the driver has in flight under the used entry's `id`; a `bad-used-id` error when nothing. */
export function inFlightEntry<F>(inFlight: readonly (F | undefined)[], id: number): F {
  const f = id < inFlight.length ? inFlight[id] : undefined;
  if (f === undefined) {
    throw new VirtqueueError("bad-used-id", `the device used id ${id}, which is not in flight`, id);
  }
  return f;
}

/**
 * Checks a used entry's length against the buffer's writable size and
 * gathers the first `len` written bytes: both ring layouts complete buffers
 * this way.
 */
export function completeUsed(
  mem: GuestMemory,
  f: { token: number; writable: Piece[] },
  id: number,
  len: number,
): UsedBuffer {
  let cap = 0;
  for (const p of f.writable) cap += p.len;
  if (len > cap) {
    throw new VirtqueueError(
      "bad-used-len",
      `the device wrote ${len} bytes into a ${cap}-byte buffer (id ${id})`,
      id,
    );
  }
  const written = new Uint8Array(len);
  let at = 0;
  for (const p of f.writable) {
    if (at >= len) break;
    const take = Math.min(p.len, len - at);
    written.set(mem.slice(p.addr, take), at);
    at += take;
  }
  return { token: f.token, len, written };
}

/**
 * Driver side of a split ring.
 *
 * @example
 * ```ts ignore
 * const drv = new SplitDriverQueue(mem, config, { buffers: { addr: 0x10000n, size: 1 << 20 } });
 * const token = drv.add([request], [4096]);
 * if (drv.kickNeeded()) kick();
 * for (const u of drv.takeUsed()) console.log(u.token, u.len, u.written);
 * ```
 */
export class SplitDriverQueue implements DriverQueue {
  /** Always `split`. */
  readonly layout = "split" as const;
  /** Queue size. */
  readonly size: number;
  readonly #mem: GuestMemory;
  readonly #pool: BufferPool;
  readonly #eventIdx: boolean;
  readonly #indirect: boolean;
  readonly #indirectMode: "always" | "multi";
  readonly #desc: DataView;
  readonly #descOff: number;
  readonly #avail: DataView;
  readonly #availOff: number;
  readonly #used: DataView;
  readonly #usedOff: number;
  readonly #inFlight: (InFlight | undefined)[];
  #freeHead = 0;
  #numFree: number;
  #availIdx = 0;
  #kickedIdx = 0;
  #lastUsed = 0;
  #nextToken = 1;
  #count = 0;
  #interruptsEnabled = true;

  /** Initialises the ring memory at `config`'s addresses (zeroed, free list built). */
  constructor(mem: GuestMemory, config: QueueConfig, options: DriverQueueOptions) {
    checkSplitQueueSize(config.size);
    const sizes = splitRingSizes(config.size);
    this.size = config.size;
    this.#mem = mem;
    this.#pool = new BufferPool(Number(options.buffers.addr), options.buffers.size);
    if (!mem.contains(options.buffers.addr, options.buffers.size)) {
      throw new VirtqueueError(
        "address-out-of-memory",
        "driver buffer area is outside guest memory",
      );
    }
    this.#eventIdx = config.eventIdx ?? false;
    this.#indirect = config.indirect ?? false;
    this.#indirectMode = options.indirectMode ?? "multi";
    const d = locateRingPart(mem, config.desc, sizes.desc, "descriptor table");
    const a = locateRingPart(mem, config.driver, sizes.avail, "available ring");
    const u = locateRingPart(mem, config.device, sizes.used, "used ring");
    this.#desc = d.view;
    this.#descOff = d.offset;
    this.#avail = a.view;
    this.#availOff = a.offset;
    this.#used = u.view;
    this.#usedOff = u.offset;
    new Uint8Array(d.view.buffer, d.view.byteOffset + d.offset, sizes.desc).fill(0);
    new Uint8Array(a.view.buffer, a.view.byteOffset + a.offset, sizes.avail).fill(0);
    new Uint8Array(u.view.buffer, u.view.byteOffset + u.offset, sizes.used).fill(0);
    for (let i = 0; i < this.size; i++) {
      this.#desc.setUint16(this.#descOff + 16 * i + 14, (i + 1) % this.size, true);
    }
    this.#numFree = this.size;
    this.#inFlight = new Array(this.size).fill(undefined);
  }

  /** Buffers added and not yet collected. */
  get inFlight(): number {
    return this.#count;
  }

  /** Free descriptors. */
  get freeDescriptors(): number {
    return this.#numFree;
  }

  /** The driver's available index. */
  get availIdx(): number {
    return this.#availIdx;
  }

  #takeDesc(): number {
    const i = this.#freeHead;
    this.#freeHead = this.#desc.getUint16(this.#descOff + 16 * i + 14, true);
    this.#numFree--;
    return i;
  }

  #writeDesc(view: DataView, off: number, p: Piece, flags: number, next: number): void {
    view.setUint32(off, p.addr % 0x1_0000_0000, true);
    view.setUint32(off + 4, Math.floor(p.addr / 0x1_0000_0000), true);
    view.setUint32(off + 8, p.len, true);
    view.setUint16(off + 12, flags, true);
    view.setUint16(off + 14, next, true);
  }

  /** See {@linkcode DriverQueue.add}. */
  add(readable: readonly Uint8Array[], writableSizes: readonly number[]): number | null {
    const n = readable.length + writableSizes.length;
    if (n === 0) throw new RangeError("a buffer needs at least one part");
    const useIndirect = this.#indirect && (this.#indirectMode === "always" || n > 1);
    if (!useIndirect && n > this.#numFree) return null;
    if (useIndirect && this.#numFree < 1) return null;
    if (n > this.size) throw new RangeError(`${n} parts exceed the queue size ${this.size}`);
    const pieces = allocPieces(this.#pool, this.#mem, readable, writableSizes);
    if (pieces === undefined) return null;
    const all = [...pieces.read, ...pieces.write];
    const nRead = pieces.read.length;
    let table: Piece | undefined;
    const descs: number[] = [];
    let head: number;
    if (useIndirect) {
      const t = this.#pool.alloc(16 * n, 16);
      if (t < 0) {
        for (const p of all) this.#pool.free(p.addr, p.len);
        return null;
      }
      table = { addr: t, len: 16 * n };
      const tl = this.#mem.locate(t, 16 * n);
      for (let k = 0; k < n; k++) {
        const flags = (k < n - 1 ? VIRTQ_DESC_F.NEXT : 0) | (k >= nRead ? VIRTQ_DESC_F.WRITE : 0);
        this.#writeDesc(tl.view, tl.offset + 16 * k, all[k], flags, k + 1 < n ? k + 1 : 0);
      }
      head = this.#takeDesc();
      descs.push(head);
      this.#writeDesc(this.#desc, this.#descOff + 16 * head, table, VIRTQ_DESC_F.INDIRECT, 0);
    } else {
      for (let k = 0; k < n; k++) descs.push(this.#takeDesc());
      head = descs[0];
      for (let k = 0; k < n; k++) {
        const flags = (k < n - 1 ? VIRTQ_DESC_F.NEXT : 0) | (k >= nRead ? VIRTQ_DESC_F.WRITE : 0);
        this.#writeDesc(
          this.#desc,
          this.#descOff + 16 * descs[k],
          all[k],
          flags,
          k < n - 1 ? descs[k + 1] : 0,
        );
      }
    }
    const token = this.#nextToken++;
    this.#inFlight[head] = { token, descs, pieces: all, writable: pieces.write, table };
    this.#count++;
    this.#avail.setUint16(
      this.#availOff + 4 + 2 * (this.#availIdx & (this.size - 1)),
      head,
      true,
    );
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
    this.#avail.setUint16(this.#availOff + 2, this.#availIdx, true);
    return token;
  }

  /** See {@linkcode DriverQueue.kickNeeded}. */
  kickNeeded(): boolean {
    const newIdx = this.#availIdx;
    const old = this.#kickedIdx;
    if (newIdx === old) return false;
    this.#kickedIdx = newIdx;
    if (this.#eventIdx) {
      const ev = this.#used.getUint16(this.#usedOff + 4 + 8 * this.size, true);
      return vringNeedEvent(ev, newIdx, old);
    }
    return (this.#used.getUint16(this.#usedOff, true) & VIRTQ_USED_F_NO_NOTIFY) === 0;
  }

  /** See {@linkcode DriverQueue.takeUsed}; throws a VirtqueueError when the device returns nonsense. */
  takeUsed(): UsedBuffer[] {
    const out: UsedBuffer[] = [];
    const usedIdx = this.#used.getUint16(this.#usedOff + 2, true);
    while (this.#lastUsed !== usedIdx) {
      const e = this.#usedOff + 4 + 8 * (this.#lastUsed & (this.size - 1));
      const id = this.#used.getUint32(e, true);
      const len = this.#used.getUint32(e + 4, true);
      const f = inFlightEntry(this.#inFlight, id);
      out.push(completeUsed(this.#mem, f, id, len));
      this.#inFlight[id] = undefined;
      this.#count--;
      for (const p of f.pieces) this.#pool.free(p.addr, p.len);
      if (f.table) this.#pool.free(f.table.addr, f.table.len);
      // return descriptors to the free list
      for (let k = f.descs.length - 1; k >= 0; k--) {
        this.#desc.setUint16(this.#descOff + 16 * f.descs[k] + 14, this.#freeHead, true);
        this.#freeHead = f.descs[k];
        this.#numFree++;
      }
      this.#lastUsed = (this.#lastUsed + 1) & 0xffff;
    }
    if (this.#eventIdx && this.#interruptsEnabled) {
      this.#avail.setUint16(this.#availOff + 4 + 2 * this.size, this.#lastUsed, true);
    }
    return out;
  }

  /** See {@linkcode DriverQueue.disableInterrupts}. */
  disableInterrupts(): void {
    this.#interruptsEnabled = false;
    if (!this.#eventIdx) {
      const f = this.#avail.getUint16(this.#availOff, true);
      this.#avail.setUint16(this.#availOff, f | VIRTQ_AVAIL_F_NO_INTERRUPT, true);
    }
  }

  /** See {@linkcode DriverQueue.enableInterrupts}. */
  enableInterrupts(): boolean {
    this.#interruptsEnabled = true;
    if (this.#eventIdx) {
      this.#avail.setUint16(this.#availOff + 4 + 2 * this.size, this.#lastUsed, true);
    } else {
      const f = this.#avail.getUint16(this.#availOff, true);
      this.#avail.setUint16(this.#availOff, f & ~VIRTQ_AVAIL_F_NO_INTERRUPT, true);
    }
    return this.#used.getUint16(this.#usedOff + 2, true) !== this.#lastUsed;
  }
}
