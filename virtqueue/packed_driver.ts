/**
 * The driver side of a packed virtqueue.
 *
 * @module
 */
import { BufferPool } from "./buffer_pool.ts";
import { VirtqueueError } from "./errors.ts";
import type { GuestMemory } from "./guest_memory.ts";
import { locateRingPart } from "./split_device.ts";
import { allocPieces, completeUsed, inFlightEntry } from "./split_driver.ts";
import type { DriverQueue, DriverQueueOptions, QueueConfig, UsedBuffer } from "./types.ts";
import {
  checkPackedQueueSize,
  PACKED_DESC_F,
  PACKED_DESC_SIZE,
  PACKED_EVENT_SIZE,
  packedNeedEvent,
  RING_EVENT_FLAGS,
} from "../codecs/virtio/mod.ts";

const { NEXT, WRITE, INDIRECT, AVAIL, USED } = PACKED_DESC_F;

interface Piece {
  addr: number;
  len: number;
}

interface InFlight {
  token: number;
  slots: number;
  pieces: Piece[];
  writable: Piece[];
  table: Piece | undefined;
}

/** Driver side of a packed ring. */
export class PackedDriverQueue implements DriverQueue {
  /** Always `packed`. */
  readonly layout = "packed" as const;
  /** Queue size. */
  readonly size: number;
  readonly #mem: GuestMemory;
  readonly #pool: BufferPool;
  readonly #eventIdx: boolean;
  readonly #indirect: boolean;
  readonly #indirectMode: "always" | "multi";
  readonly #desc: DataView;
  readonly #descOff: number;
  readonly #drv: DataView;
  readonly #drvOff: number;
  readonly #dev: DataView;
  readonly #devOff: number;
  readonly #inFlight: (InFlight | undefined)[];
  readonly #freeIds: number[];
  #numFree: number;
  #availPos = 0;
  #availWrap = true;
  #kickPos = 0;
  #kickWrap = true;
  #usedPos = 0;
  #usedWrap = true;
  #nextToken = 1;
  #count = 0;
  #interruptsEnabled = true;

  /** Initialises the ring memory at `config`'s addresses. */
  constructor(mem: GuestMemory, config: QueueConfig, options: DriverQueueOptions) {
    checkPackedQueueSize(config.size);
    this.size = config.size;
    this.#mem = mem;
    if (!mem.contains(options.buffers.addr, options.buffers.size)) {
      throw new VirtqueueError(
        "address-out-of-memory",
        "driver buffer area is outside guest memory",
      );
    }
    this.#pool = new BufferPool(Number(options.buffers.addr), options.buffers.size);
    this.#eventIdx = config.eventIdx ?? false;
    this.#indirect = config.indirect ?? false;
    this.#indirectMode = options.indirectMode ?? "multi";
    const d = locateRingPart(mem, config.desc, PACKED_DESC_SIZE * config.size, "descriptor ring");
    const drv = locateRingPart(mem, config.driver, PACKED_EVENT_SIZE, "driver event suppression");
    const dev = locateRingPart(mem, config.device, PACKED_EVENT_SIZE, "device event suppression");
    this.#desc = d.view;
    this.#descOff = d.offset;
    this.#drv = drv.view;
    this.#drvOff = drv.offset;
    this.#dev = dev.view;
    this.#devOff = dev.offset;
    new Uint8Array(d.view.buffer, d.view.byteOffset + d.offset, 16 * this.size).fill(0);
    this.#drv.setUint32(this.#drvOff, 0, true);
    this.#dev.setUint32(this.#devOff, 0, true);
    this.#numFree = this.size;
    this.#inFlight = new Array(this.size).fill(undefined);
    this.#freeIds = [];
    for (let i = this.size - 1; i >= 0; i--) this.#freeIds.push(i);
  }

  /** Buffers added and not yet collected. */
  get inFlight(): number {
    return this.#count;
  }

  /** Free ring slots. */
  get freeDescriptors(): number {
    return this.#numFree;
  }

  #writeDesc(view: DataView, off: number, p: Piece, id: number, flags: number): void {
    view.setUint32(off, p.addr % 0x1_0000_0000, true);
    view.setUint32(off + 4, Math.floor(p.addr / 0x1_0000_0000), true);
    view.setUint32(off + 8, p.len, true);
    view.setUint16(off + 12, id, true);
    view.setUint16(off + 14, flags, true);
  }

  /** See {@linkcode DriverQueue.add}. */
  add(readable: readonly Uint8Array[], writableSizes: readonly number[]): number | null {
    const n = readable.length + writableSizes.length;
    if (n === 0) throw new RangeError("a buffer needs at least one part");
    if (n > this.size) throw new RangeError(`${n} parts exceed the queue size ${this.size}`);
    const useIndirect = this.#indirect && (this.#indirectMode === "always" || n > 1);
    const slots = useIndirect ? 1 : n;
    if (slots > this.#numFree) return null;
    const pieces = allocPieces(this.#pool, this.#mem, readable, writableSizes);
    if (pieces === undefined) return null;
    const all = [...pieces.read, ...pieces.write];
    const nRead = pieces.read.length;
    const id = this.#freeIds.pop()!;
    let table: Piece | undefined;
    const ring: { p: Piece; flags: number }[] = [];
    if (useIndirect) {
      const t = this.#pool.alloc(16 * n, 16);
      if (t < 0) {
        for (const p of all) this.#pool.free(p.addr, p.len);
        this.#freeIds.push(id);
        return null;
      }
      table = { addr: t, len: 16 * n };
      const tl = this.#mem.locate(t, 16 * n);
      for (let k = 0; k < n; k++) {
        this.#writeDesc(tl.view, tl.offset + 16 * k, all[k], 0, k >= nRead ? WRITE : 0);
      }
      ring.push({ p: table, flags: INDIRECT });
    } else {
      for (let k = 0; k < n; k++) {
        ring.push({ p: all[k], flags: (k < n - 1 ? NEXT : 0) | (k >= nRead ? WRITE : 0) });
      }
    }
    // write every descriptor but the head, then the head's flags last
    const headPos = this.#availPos;
    const headWrap = this.#availWrap;
    let pos = headPos;
    let wrap = headWrap;
    let headFlags = 0;
    for (let k = 0; k < ring.length; k++) {
      const f = ring[k].flags | (wrap ? AVAIL : USED);
      const off = this.#descOff + 16 * pos;
      if (k === 0) {
        headFlags = f;
        this.#writeDesc(this.#desc, off, ring[k].p, id, this.#desc.getUint16(off + 14, true));
      } else this.#writeDesc(this.#desc, off, ring[k].p, id, f);
      if (++pos === this.size) {
        pos = 0;
        wrap = !wrap;
      }
    }
    this.#desc.setUint16(this.#descOff + 16 * headPos + 14, headFlags, true);
    this.#availPos = pos;
    this.#availWrap = wrap;
    this.#numFree -= slots;
    const token = this.#nextToken++;
    this.#inFlight[id] = { token, slots, pieces: all, writable: pieces.write, table };
    this.#count++;
    return token;
  }

  /** See {@linkcode DriverQueue.kickNeeded}. */
  kickNeeded(): boolean {
    const oldPos = this.#kickPos;
    const oldWrap = this.#kickWrap;
    if (oldPos === this.#availPos && oldWrap === this.#availWrap) return false;
    this.#kickPos = this.#availPos;
    this.#kickWrap = this.#availWrap;
    const flags = this.#dev.getUint16(this.#devOff + 2, true) & 3;
    if (flags === RING_EVENT_FLAGS.DISABLE) return false;
    if (flags !== RING_EVENT_FLAGS.DESC || !this.#eventIdx) return true;
    const offWrap = this.#dev.getUint16(this.#devOff, true);
    return packedNeedEvent(
      { offset: offWrap & 0x7fff, wrap: (offWrap & 0x8000) !== 0 },
      { newPos: this.#availPos, newWrap: this.#availWrap, oldPos, oldWrap, size: this.size },
    );
  }

  /** See {@linkcode DriverQueue.takeUsed}; throws a VirtqueueError when the device returns nonsense. */
  takeUsed(): UsedBuffer[] {
    const out: UsedBuffer[] = [];
    for (;;) {
      const d = this.#descOff + 16 * this.#usedPos;
      const flags = this.#desc.getUint16(d + 14, true);
      const w = this.#usedWrap;
      if (((flags & AVAIL) !== 0) !== w || ((flags & USED) !== 0) !== w) break;
      const id = this.#desc.getUint16(d + 12, true);
      const len = flags & WRITE ? this.#desc.getUint32(d + 8, true) : 0;
      const f = inFlightEntry(this.#inFlight, id);
      out.push(completeUsed(this.#mem, f, id, len));
      this.#inFlight[id] = undefined;
      this.#freeIds.push(id);
      this.#count--;
      for (const p of f.pieces) this.#pool.free(p.addr, p.len);
      if (f.table) this.#pool.free(f.table.addr, f.table.len);
      this.#numFree += f.slots;
      this.#usedPos += f.slots;
      if (this.#usedPos >= this.size) {
        this.#usedPos -= this.size;
        this.#usedWrap = !this.#usedWrap;
      }
    }
    if (this.#eventIdx && this.#interruptsEnabled) this.#writeInterruptEvent();
    return out;
  }

  #writeInterruptEvent(): void {
    this.#drv.setUint16(this.#drvOff, this.#usedPos | (this.#usedWrap ? 0x8000 : 0), true);
  }

  /** See {@linkcode DriverQueue.disableInterrupts}. */
  disableInterrupts(): void {
    this.#interruptsEnabled = false;
    this.#drv.setUint16(this.#drvOff + 2, RING_EVENT_FLAGS.DISABLE, true);
  }

  /** See {@linkcode DriverQueue.enableInterrupts}. */
  enableInterrupts(): boolean {
    this.#interruptsEnabled = true;
    if (this.#eventIdx) {
      this.#writeInterruptEvent();
      this.#drv.setUint16(this.#drvOff + 2, RING_EVENT_FLAGS.DESC, true);
    } else {
      this.#drv.setUint16(this.#drvOff + 2, RING_EVENT_FLAGS.ENABLE, true);
    }
    const flags = this.#desc.getUint16(this.#descOff + 16 * this.#usedPos + 14, true);
    const w = this.#usedWrap;
    return ((flags & AVAIL) !== 0) === w && ((flags & USED) !== 0) === w;
  }
}
