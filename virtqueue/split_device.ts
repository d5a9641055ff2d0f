/**
 * The device side of a split virtqueue (virtio spec split-ring.tex).
 *
 * @module
 */
import { DescChain } from "./chain.ts";
import { VirtqueueError } from "./errors.ts";
import { addrFromHalves, type GuestMemory } from "./guest_memory.ts";
import type { DeviceQueue, DeviceQueueOptions, QueueConfig } from "./types.ts";
import {
  checkSplitQueueSize,
  splitRingSizes,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F,
  VIRTQ_USED_F_NO_NOTIFY,
  vringNeedEvent,
} from "../codecs/virtio/mod.ts";

const NEXT = VIRTQ_DESC_F.NEXT;
const WRITE = VIRTQ_DESC_F.WRITE;
const INDIRECT = VIRTQ_DESC_F.INDIRECT;

/** Locates a ring part that must lie inside one region; throws a VirtqueueError otherwise. */
export function locateRingPart(
  mem: GuestMemory,
  addr: bigint,
  len: number,
  what: string,
): { view: DataView; offset: number } {
  if (!mem.contains(addr, len)) {
    throw new VirtqueueError(
      "address-out-of-memory",
      `${what} at 0x${addr.toString(16)} (+${len}) is not inside one guest memory region`,
    );
  }
  const r = mem.locate(Number(addr), len);
  return { view: r.view, offset: r.offset };
}

/**
 * Device side of a split ring: pops chains from the available ring and
 * pushes them to the used ring.
 *
 * @example
 * ```ts ignore
 * const q = new SplitDeviceQueue(mem, { size: 256, desc, driver: avail, device: used, eventIdx: true });
 * for (let c = q.pop(); c !== null; c = q.pop()) q.push(c, c.write(reply(c.readAll())));
 * if (q.needsInterrupt()) signalGuest();
 * ```
 */
export class SplitDeviceQueue implements DeviceQueue {
  /** Always `split`. */
  readonly layout = "split" as const;
  /** Queue size. */
  readonly size: number;
  readonly #mem: GuestMemory;
  readonly #mask: number;
  readonly #eventIdx: boolean;
  readonly #indirect: boolean;
  readonly #notifyOnEmpty: boolean;
  readonly #desc: DataView;
  readonly #descOff: number;
  readonly #avail: DataView;
  readonly #availOff: number;
  readonly #used: DataView;
  readonly #usedOff: number;
  readonly #onChainError: ((e: VirtqueueError) => void) | undefined;
  #lastAvail = 0;
  #usedIdx = 0;
  #signalledUsed = 0;
  #signalledValid = false;
  #kicksEnabled = true;
  #needsReset: VirtqueueError | undefined;
  #malformed = 0;
  /**
   * One chain object per head index, reused once the device has pushed it
   * back (a head cannot be offered again before that, unless the driver
   * breaks the rules: then a fresh chain is made).
   */
  readonly #chains: (DescChain | undefined)[];
  /** 1 while the pooled chain of a head is out with the caller. */
  readonly #out: Uint8Array;

  /** Binds to the rings at `config`'s addresses; throws when a ring part is outside guest memory. */
  constructor(mem: GuestMemory, config: QueueConfig, options: DeviceQueueOptions = {}) {
    checkSplitQueueSize(config.size);
    const sizes = splitRingSizes(config.size);
    this.size = config.size;
    this.#mem = mem;
    this.#mask = config.size - 1;
    this.#eventIdx = config.eventIdx ?? false;
    this.#indirect = config.indirect ?? false;
    this.#notifyOnEmpty = config.notifyOnEmpty ?? false;
    const d = locateRingPart(mem, config.desc, sizes.desc, "descriptor table");
    const a = locateRingPart(mem, config.driver, sizes.avail, "available ring");
    const u = locateRingPart(mem, config.device, sizes.used, "used ring");
    this.#desc = d.view;
    this.#descOff = d.offset;
    this.#avail = a.view;
    this.#availOff = a.offset;
    this.#used = u.view;
    this.#usedOff = u.offset;
    this.#onChainError = options.onChainError;
    this.#chains = new Array(config.size).fill(undefined);
    this.#out = new Uint8Array(config.size);
    this.#lastAvail = (options.base ?? 0) & 0xffff;
    // like vhost: the used index continues from what the ring holds
    this.#usedIdx = this.#used.getUint16(this.#usedOff + 2, true);
    this.#signalledUsed = this.#usedIdx;
  }

  /** Set once the ring itself is corrupt; the device must stop until reset. */
  get needsReset(): VirtqueueError | undefined {
    return this.#needsReset;
  }

  /** Malformed chains returned so far. */
  get malformed(): number {
    return this.#malformed;
  }

  /** The next available index the device will read (`last_avail_idx`). */
  get lastAvailIdx(): number {
    return this.#lastAvail;
  }

  /** The device's used index. */
  get usedIdx(): number {
    return this.#usedIdx;
  }

  /** vhost-user GET_VRING_BASE: `last_avail_idx`. */
  getBase(): number {
    return this.#lastAvail;
  }

  #fail(e: VirtqueueError): void {
    if (this.#needsReset === undefined) this.#needsReset = e;
  }

  /** True when the driver has published buffers the device has not taken. */
  hasAvailable(): boolean {
    return this.#needsReset === undefined &&
      this.#avail.getUint16(this.#availOff + 2, true) !== this.#lastAvail;
  }

  /** See {@linkcode DeviceQueue.pop}. */
  pop(): DescChain | null {
    for (;;) {
      if (this.#needsReset !== undefined) return null;
      const availIdx = this.#avail.getUint16(this.#availOff + 2, true);
      if (availIdx === this.#lastAvail) return null;
      const pending = (availIdx - this.#lastAvail) & 0xffff;
      if (pending > this.size) {
        this.#fail(
          new VirtqueueError(
            "avail-idx-jump",
            `available index moved from ${this.#lastAvail} to ${availIdx}, more than the queue size ${this.size}`,
          ),
        );
        return null;
      }
      const head = this.#avail.getUint16(
        this.#availOff + 4 + 2 * (this.#lastAvail & this.#mask),
        true,
      );
      if (head >= this.size) {
        this.#fail(
          new VirtqueueError(
            "index-out-of-range",
            `available ring entry ${this.#lastAvail} names head ${head}, past the queue size ${this.size}`,
            head,
          ),
        );
        return null;
      }
      this.#lastAvail = (this.#lastAvail + 1) & 0xffff;
      if (this.#eventIdx && this.#kicksEnabled) {
        this.#used.setUint16(this.#usedOff + 4 + 8 * this.size, this.#lastAvail, true);
      }
      const chain = this.#walk(head);
      if (chain.error === undefined) return chain;
      this.#malformed++;
      this.push(chain, 0);
      this.#onChainError?.(chain.error);
    }
  }

  #chainFor(head: number): DescChain {
    let chain = this.#chains[head];
    if (chain === undefined) {
      chain = new DescChain(head);
      this.#chains[head] = chain;
    } else if (this.#out[head] === 1) {
      return new DescChain(head);
    } else {
      chain.reset(head);
    }
    this.#out[head] = 1;
    return chain;
  }

  #walk(head: number): DescChain {
    const chain = this.#chainFor(head);
    const mem = this.#mem;
    let view = this.#desc;
    let base = this.#descOff;
    let entries = this.size;
    let inIndirect = false;
    let i = head;
    let count = 0;
    for (;;) {
      if (i >= entries) {
        chain.error = new VirtqueueError(
          "index-out-of-range",
          `descriptor index ${i} is past the ${
            inIndirect ? "indirect table's" : "queue's"
          } ${entries} entries`,
          head,
        );
        return chain;
      }
      if (++count > entries) {
        chain.error = new VirtqueueError("loop", "the descriptor chain loops", head);
        return chain;
      }
      if (++chain.descCount > this.size) {
        chain.error = new VirtqueueError(
          "chain-too-long",
          `the chain has more than ${this.size} descriptors`,
          head,
        );
        return chain;
      }
      const d = base + 16 * i;
      const addr = addrFromHalves(view.getUint32(d, true), view.getUint32(d + 4, true));
      const len = view.getUint32(d + 8, true);
      const flags = view.getUint16(d + 12, true);
      if (flags & INDIRECT) {
        const err = this.#checkIndirect(inIndirect, flags, len, head);
        if (err !== undefined) {
          chain.error = err;
          return chain;
        }
        const r = mem.region(addr, len);
        if (r === undefined) {
          chain.error = new VirtqueueError(
            "address-out-of-memory",
            `indirect table 0x${
              addr < 0 ? "?" : addr.toString(16)
            } (+${len}) is outside guest memory`,
            head,
          );
          return chain;
        }
        chain.descCount--; // the table's own descriptor is not a buffer
        view = r.view;
        base = addr - r.start;
        entries = len / 16;
        inIndirect = true;
        i = 0;
        count = 0;
        continue;
      }
      if (!chain.addBuffer(mem, addr, len, (flags & WRITE) !== 0)) return chain;
      if (!(flags & NEXT)) return chain;
      i = view.getUint16(d + 14, true);
    }
  }

  #checkIndirect(
    inIndirect: boolean,
    flags: number,
    len: number,
    head: number,
  ): VirtqueueError | undefined {
    if (!this.#indirect) {
      return new VirtqueueError(
        "indirect-not-negotiated",
        "INDIRECT descriptor without VIRTIO_F_INDIRECT_DESC",
        head,
      );
    }
    if (inIndirect) {
      return new VirtqueueError("nested-indirect", "INDIRECT inside an indirect table", head);
    }
    if (flags & NEXT) {
      return new VirtqueueError("indirect-with-next", "INDIRECT and NEXT on one descriptor", head);
    }
    if (len === 0 || len % 16 !== 0) {
      return new VirtqueueError(
        "bad-indirect-length",
        `indirect table of ${len} bytes (must be a non-zero multiple of 16)`,
        head,
      );
    }
    return undefined;
  }

  /** See {@linkcode DeviceQueue.push}. */
  push(chain: DescChain, len: number = chain.written): void {
    if (this.#chains[chain.id] === chain) this.#out[chain.id] = 0;
    const e = this.#usedOff + 4 + 8 * (this.#usedIdx & this.#mask);
    this.#used.setUint32(e, chain.id, true);
    this.#used.setUint32(e + 4, len >>> 0, true);
    this.#usedIdx = (this.#usedIdx + 1) & 0xffff;
    // x86 keeps stores in order: the element is visible before the index
    this.#used.setUint16(this.#usedOff + 2, this.#usedIdx, true);
  }

  /** See {@linkcode DeviceQueue.needsInterrupt}. */
  needsInterrupt(): boolean {
    const newIdx = this.#usedIdx;
    const old = this.#signalledUsed;
    if (newIdx === old) return false;
    this.#signalledUsed = newIdx;
    if (this.#eventIdx) {
      const valid = this.#signalledValid;
      this.#signalledValid = true;
      const ev = this.#avail.getUint16(this.#availOff + 4 + 2 * this.size, true);
      return !valid || vringNeedEvent(ev, newIdx, old);
    }
    if (
      this.#notifyOnEmpty &&
      this.#avail.getUint16(this.#availOff + 2, true) === this.#lastAvail
    ) return true;
    return (this.#avail.getUint16(this.#availOff, true) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** See {@linkcode DeviceQueue.disableKicks}. */
  disableKicks(): void {
    this.#kicksEnabled = false;
    if (this.#eventIdx) {
      // an avail_event the driver has already passed: it notifies again only
      // once its index wraps all the way round, long after enableKicks
      this.#used.setUint16(this.#usedOff + 4 + 8 * this.size, (this.#lastAvail - 1) & 0xffff, true);
    } else {
      const f = this.#used.getUint16(this.#usedOff, true);
      this.#used.setUint16(this.#usedOff, f | VIRTQ_USED_F_NO_NOTIFY, true);
    }
  }

  /** See {@linkcode DeviceQueue.enableKicks}. */
  enableKicks(): boolean {
    this.#kicksEnabled = true;
    if (this.#eventIdx) {
      this.#used.setUint16(this.#usedOff + 4 + 8 * this.size, this.#lastAvail, true);
    } else {
      const f = this.#used.getUint16(this.#usedOff, true);
      this.#used.setUint16(this.#usedOff, f & ~VIRTQ_USED_F_NO_NOTIFY, true);
    }
    return this.hasAvailable();
  }
}
