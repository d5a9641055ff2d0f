/**
 * The device side of a packed virtqueue (virtio spec packed-ring.tex).
 *
 * @module
 */
import { DescChain } from "./chain.ts";
import { VirtqueueError } from "./errors.ts";
import { addrFromHalves, type GuestMemory } from "./guest_memory.ts";
import { locateRingPart } from "./split_device.ts";
import type { DeviceQueue, DeviceQueueOptions, QueueConfig } from "./types.ts";
import {
  checkPackedQueueSize,
  PACKED_DESC_F,
  PACKED_DESC_SIZE,
  PACKED_EVENT_SIZE,
  packedNeedEvent,
  RING_EVENT_FLAGS,
} from "../codecs/virtio/mod.ts";

const NEXT = PACKED_DESC_F.NEXT;
const WRITE = PACKED_DESC_F.WRITE;
const INDIRECT = PACKED_DESC_F.INDIRECT;
const AVAIL = PACKED_DESC_F.AVAIL;
const USED = PACKED_DESC_F.USED;

/** Splits a packed vhost-user base half (bits 0..14 position, bit 15 wrap). */
function baseHalf(v: number, size: number): { pos: number; wrap: boolean } {
  return { pos: (v & 0x7fff) % size, wrap: (v & 0x8000) !== 0 };
}

/**
 * Device side of a packed ring: reads available descriptors in ring order and
 * writes used descriptors over them.
 */
export class PackedDeviceQueue implements DeviceQueue {
  /** Always `packed`. */
  readonly layout = "packed" as const;
  /** Queue size. */
  readonly size: number;
  readonly #mem: GuestMemory;
  readonly #eventIdx: boolean;
  readonly #indirect: boolean;
  readonly #desc: DataView;
  readonly #descOff: number;
  readonly #drv: DataView;
  readonly #drvOff: number;
  readonly #dev: DataView;
  readonly #devOff: number;
  readonly #onChainError: ((e: VirtqueueError) => void) | undefined;
  #availPos = 0;
  #availWrap = true;
  #usedPos = 0;
  #usedWrap = true;
  #sigPos = 0;
  #sigWrap = true;
  #signalledValid = false;
  #pushed = false;
  #kicksEnabled = true;
  #needsReset: VirtqueueError | undefined;
  #malformed = 0;

  /** Binds to the ring at `config`'s addresses; throws when a part is outside guest memory. */
  constructor(mem: GuestMemory, config: QueueConfig, options: DeviceQueueOptions = {}) {
    checkPackedQueueSize(config.size);
    this.size = config.size;
    this.#mem = mem;
    this.#eventIdx = config.eventIdx ?? false;
    this.#indirect = config.indirect ?? false;
    const d = locateRingPart(mem, config.desc, PACKED_DESC_SIZE * config.size, "descriptor ring");
    const drv = locateRingPart(mem, config.driver, PACKED_EVENT_SIZE, "driver event suppression");
    const dev = locateRingPart(mem, config.device, PACKED_EVENT_SIZE, "device event suppression");
    this.#desc = d.view;
    this.#descOff = d.offset;
    this.#drv = drv.view;
    this.#drvOff = drv.offset;
    this.#dev = dev.view;
    this.#devOff = dev.offset;
    this.#onChainError = options.onChainError;
    if (options.base !== undefined) {
      const a = baseHalf(options.base & 0xffff, this.size);
      const hi = (options.base >>> 16) & 0xffff;
      const u = hi === 0 ? a : baseHalf(hi, this.size);
      this.#availPos = a.pos;
      this.#availWrap = a.wrap;
      this.#usedPos = u.pos;
      this.#usedWrap = u.wrap;
      this.#sigPos = u.pos;
      this.#sigWrap = u.wrap;
    }
  }

  /** Set once the ring is corrupt; the device must stop until reset. */
  get needsReset(): VirtqueueError | undefined {
    return this.#needsReset;
  }

  /** Malformed chains returned so far. */
  get malformed(): number {
    return this.#malformed;
  }

  /** Next available position and the driver wrap counter the device expects there. */
  get availState(): { pos: number; wrap: boolean } {
    return { pos: this.#availPos, wrap: this.#availWrap };
  }

  /** Next used position and the device's used wrap counter. */
  get usedState(): { pos: number; wrap: boolean } {
    return { pos: this.#usedPos, wrap: this.#usedWrap };
  }

  /** vhost-user GET_VRING_BASE: avail half in bits 0..15, used half in bits 16..31. */
  getBase(): number {
    const a = this.#availPos | (this.#availWrap ? 0x8000 : 0);
    const u = this.#usedPos | (this.#usedWrap ? 0x8000 : 0);
    return (a | (u << 16)) >>> 0;
  }

  #isAvail(pos: number, wrap: boolean): boolean {
    const f = this.#desc.getUint16(this.#descOff + 16 * pos + 14, true);
    return ((f & AVAIL) !== 0) === wrap && ((f & USED) !== 0) !== wrap;
  }

  /** True when the descriptor at the next available position is available. */
  hasAvailable(): boolean {
    return this.#needsReset === undefined && this.#isAvail(this.#availPos, this.#availWrap);
  }

  /** See {@linkcode DeviceQueue.pop}. */
  pop(): DescChain | null {
    for (;;) {
      if (this.#needsReset !== undefined) return null;
      if (!this.#isAvail(this.#availPos, this.#availWrap)) return null;
      const chain = this.#walk();
      if (chain === null) return null;
      if (chain.error === undefined) return chain;
      this.#malformed++;
      this.push(chain, 0);
      this.#onChainError?.(chain.error);
    }
  }

  /**
   * Walks the chain at the available position. Unlike split rings the walk
   * must reach the chain's last descriptor to know how far to advance, so a
   * bad buffer records the error and the walk goes on structurally; a chain
   * that never ends within the queue size makes the ring unusable.
   */
  #walk(): DescChain | null {
    const chain = new DescChain(0);
    const mem = this.#mem;
    const view = this.#desc;
    const size = this.size;
    let pos = this.#availPos;
    let wrap = this.#availWrap;
    let slots = 0;
    let id = 0;
    for (;;) {
      if (++slots > size) {
        this.#needsReset = new VirtqueueError(
          "chain-too-long",
          `the chain at ring position ${this.#availPos} has more than ${size} descriptors`,
        );
        return null;
      }
      const d = this.#descOff + 16 * pos;
      const addr = addrFromHalves(view.getUint32(d, true), view.getUint32(d + 4, true));
      const len = view.getUint32(d + 8, true);
      id = view.getUint16(d + 12, true);
      const flags = view.getUint16(d + 14, true);
      if (++pos === size) {
        pos = 0;
        wrap = !wrap;
      }
      if (chain.error === undefined) {
        if (flags & INDIRECT) {
          this.#walkIndirect(chain, addr, len, flags);
        } else {
          if (++chain.descCount > size) {
            chain.error = new VirtqueueError(
              "chain-too-long",
              `the chain has more than ${size} descriptors`,
            );
          } else chain.addBuffer(mem, addr, len, (flags & WRITE) !== 0);
        }
      }
      if (!(flags & NEXT)) break;
    }
    chain.id = id;
    chain.ringSlots = slots;
    this.#availPos = pos;
    this.#availWrap = wrap;
    if (this.#eventIdx && this.#kicksEnabled) this.#writeKickEvent();
    return chain;
  }

  #walkIndirect(chain: DescChain, addr: number, len: number, flags: number): void {
    let err: VirtqueueError | undefined;
    if (!this.#indirect) {
      err = new VirtqueueError(
        "indirect-not-negotiated",
        "INDIRECT descriptor without VIRTIO_F_INDIRECT_DESC",
      );
    } else if (flags & NEXT) {
      err = new VirtqueueError("indirect-with-next", "INDIRECT and NEXT on one descriptor");
    } else if (len === 0 || len % 16 !== 0) {
      err = new VirtqueueError(
        "bad-indirect-length",
        `indirect table of ${len} bytes (must be a non-zero multiple of 16)`,
      );
    }
    if (err !== undefined) {
      chain.error = err;
      return;
    }
    const r = this.#mem.region(addr, len);
    if (r === undefined) {
      chain.error = new VirtqueueError(
        "address-out-of-memory",
        `indirect table 0x${addr < 0 ? "?" : addr.toString(16)} (+${len}) is outside guest memory`,
      );
      return;
    }
    const n = len / 16;
    if (chain.descCount + n > this.size) {
      chain.error = new VirtqueueError(
        "chain-too-long",
        `the chain has more than ${this.size} descriptors`,
      );
      return;
    }
    const v = r.view;
    const base = addr - r.start;
    // in a packed indirect table only WRITE counts; other flags are ignored (packed-ring.tex)
    for (let k = 0; k < n; k++) {
      const d = base + 16 * k;
      const a = addrFromHalves(v.getUint32(d, true), v.getUint32(d + 4, true));
      chain.descCount++;
      if (
        !chain.addBuffer(
          this.#mem,
          a,
          v.getUint32(d + 8, true),
          (v.getUint16(d + 14, true) & WRITE) !== 0,
        )
      ) return;
    }
  }

  /** See {@linkcode DeviceQueue.push}. */
  push(chain: DescChain, len: number = chain.written): void {
    const d = this.#descOff + 16 * this.#usedPos;
    const view = this.#desc;
    view.setUint16(d + 12, chain.id, true);
    view.setUint32(d + 8, len >>> 0, true);
    const wrapBits = this.#usedWrap ? AVAIL | USED : 0;
    // x86 keeps stores in order: id and len are visible before the flags
    view.setUint16(d + 14, wrapBits | (len > 0 ? WRITE : 0), true);
    this.#usedPos += chain.ringSlots;
    if (this.#usedPos >= this.size) {
      this.#usedPos -= this.size;
      this.#usedWrap = !this.#usedWrap;
    }
    this.#pushed = true;
  }

  /** See {@linkcode DeviceQueue.needsInterrupt}. */
  needsInterrupt(): boolean {
    if (!this.#pushed) return false;
    this.#pushed = false;
    const oldPos = this.#sigPos;
    const oldWrap = this.#sigWrap;
    this.#sigPos = this.#usedPos;
    this.#sigWrap = this.#usedWrap;
    const flags = this.#drv.getUint16(this.#drvOff + 2, true) & 3;
    if (flags === RING_EVENT_FLAGS.DISABLE) return false;
    if (flags !== RING_EVENT_FLAGS.DESC || !this.#eventIdx) return true;
    const valid = this.#signalledValid;
    this.#signalledValid = true;
    if (!valid) return true;
    const offWrap = this.#drv.getUint16(this.#drvOff, true);
    return packedNeedEvent(
      { offset: offWrap & 0x7fff, wrap: (offWrap & 0x8000) !== 0 },
      { newPos: this.#usedPos, newWrap: this.#usedWrap, oldPos, oldWrap, size: this.size },
    );
  }

  #writeKickEvent(): void {
    this.#dev.setUint16(
      this.#devOff,
      this.#availPos | (this.#availWrap ? 0x8000 : 0),
      true,
    );
  }

  /** See {@linkcode DeviceQueue.disableKicks}. */
  disableKicks(): void {
    this.#kicksEnabled = false;
    this.#dev.setUint16(this.#devOff + 2, RING_EVENT_FLAGS.DISABLE, true);
  }

  /** See {@linkcode DeviceQueue.enableKicks}. */
  enableKicks(): boolean {
    this.#kicksEnabled = true;
    if (this.#eventIdx) {
      this.#writeKickEvent();
      this.#dev.setUint16(this.#devOff + 2, RING_EVENT_FLAGS.DESC, true);
    } else {
      this.#dev.setUint16(this.#devOff + 2, RING_EVENT_FLAGS.ENABLE, true);
    }
    return this.hasAvailable();
  }
}
