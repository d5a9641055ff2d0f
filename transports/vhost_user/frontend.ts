/**
 * A vhost-user front-end (the role QEMU plays): connects to a back-end's
 * socket, negotiates, shares guest memory made of a memfd, sets up rings with
 * the virtqueue driver side and sends FUSE requests through them. Tests use it
 * to drive ringside's back-end (and the C virtiofsd) without a guest, and to
 * send deliberately malformed messages and rings.
 *
 * The control requests are async (they wait for replies with an awaitable
 * poll, so a back-end in the same process keeps running); the data path
 * ({@linkcode FrontendQueue.submit}, {@linkcode FrontendQueue.waitUsed}) is
 * synchronous FFI, for speed.
 *
 * @example
 * ```ts ignore
 * const fe = await VhostUserFrontend.connect("/tmp/vfs.sock");
 * const dev = await fe.setUp({ queues: 2, queueSize: 128 });
 * const reply = dev.queues[1].roundTrip(fuseInitRequest, 4096);
 * await fe.close();
 * ```
 *
 * @module
 */
import {
  decodeMessage,
  encodeRequest,
  FrontendRequest,
  messageBytesNeeded,
  ProtocolFeature,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_REPLY_MASK,
  VHOST_USER_VRING_NOFD_MASK,
  type VhostUserMessage,
  type VhostUserPayload,
} from "../../codecs/vhost_user/mod.ts";
import { featureBit, splitRingLayout, VIRTIO_F } from "../../codecs/virtio/mod.ts";
import {
  createDriverQueue,
  type DriverQueue,
  GuestMemory,
  type RingLayout,
  type UsedBuffer,
} from "../../virtqueue/mod.ts";
import { close, connectUnix, recvMsg, sendMsg, setNonblocking } from "../../sys/socket.ts";
import { ftruncate, type Mapping, memfdCreate, mmap, munmap } from "../../sys/mmap.ts";
import { eventfd, eventfdRead, eventfdWrite } from "../../sys/eventfd.ts";
import { pollAsync, POLLIN, PollSet } from "../../sys/poll.ts";

/** Where the test front-end pretends guest memory lives in its own address space. */
export const FRONTEND_USER_BASE = 0x7f3a_0000_0000n;

const fenceCell = new Int32Array(new SharedArrayBuffer(4));
/** A full memory barrier (a locked instruction on x86): between a store and a dependent load. */
function fence(): void {
  Atomics.exchange(fenceCell, 0, 0);
}

/** Guest memory shared through a memfd. */
export interface SharedGuestMemory {
  /** The memfd (sent to the back-end with SET_MEM_TABLE). */
  fd: number;
  /** The front-end's own mapping. */
  mapping: Mapping;
  /** Bounds-checked view for the driver side. */
  memory: GuestMemory;
  /** Size in bytes. */
  size: number;
  /** Guest-physical address of the first byte. */
  guestAddr: bigint;
  /** The "front-end virtual address" announced for the first byte. */
  userAddr: bigint;
}

/** Creates `size` bytes of memfd-backed guest memory at guest address `guestAddr`. */
export function createSharedGuestMemory(
  size: number,
  options: { guestAddr?: bigint; userAddr?: bigint } = {},
): SharedGuestMemory {
  const fd = memfdCreate("ringside-frontend-ram");
  ftruncate(fd, size);
  const mapping = mmap(fd, size);
  const guestAddr = options.guestAddr ?? 0n;
  const userAddr = options.userAddr ?? FRONTEND_USER_BASE + guestAddr;
  const memory = new GuestMemory([{ guestAddr, size, userAddr, bytes: mapping.bytes }]);
  return { fd, mapping, memory, size, guestAddr, userAddr };
}

/**
 * A FUSE request split as a Linux guest queues it (virtio_fs.c): the
 * fuse_in_header, the op's arguments (`argBytes`, e.g. 40 for fuse_read_in
 * or fuse_write_in), then the data in `page`-byte pieces; each part is a
 * view of `request` (nothing copied). Pass the parts to
 * {@linkcode FrontendQueue.submit}.
 */
export function guestRequestParts(
  request: Uint8Array,
  argBytes: number,
  page = 4096,
): Uint8Array[] {
  const parts = [request.subarray(0, 40), request.subarray(40, 40 + argBytes)];
  for (let at = 40 + argBytes; at < request.length; at += page) {
    parts.push(request.subarray(at, Math.min(at + page, request.length)));
  }
  return parts;
}

/**
 * The writable sizes a Linux guest gives a reply with `dataBytes` of data
 * (a READ's): the 16-byte fuse_out_header, then `page`-byte pieces.
 */
export function guestReplySizes(dataBytes: number, page = 4096): number[] {
  const sizes = [16];
  for (let left = dataBytes; left > 0; left -= page) sizes.push(Math.min(page, left));
  return sizes;
}

/** Options of {@linkcode VhostUserFrontend.request}. */
export interface RequestOptions {
  /** File descriptors to pass. */
  fds?: number[];
  /** Set NEED_REPLY and wait for the REPLY_ACK. */
  needReply?: boolean;
  /** Wait for a reply even without NEED_REPLY (GET_* requests). */
  expectReply?: boolean;
  /** Milliseconds to wait for the reply (default 5000). */
  timeoutMs?: number;
}

/** Options of {@linkcode VhostUserFrontend.setUp}. */
export interface SetUpOptions {
  /** Queues to set up (default 2: hiprio and one request queue). */
  queues?: number;
  /** Entries per queue (default 128). */
  queueSize?: number;
  /** Guest memory size (default 8 MiB). */
  memorySize?: number;
  /** Ring layout (default split; packed needs the back-end to offer RING_PACKED). */
  layout?: RingLayout;
  /** Negotiate EVENT_IDX (default true). */
  eventIdx?: boolean;
  /** Negotiate INDIRECT_DESC (default true). */
  indirect?: boolean;
  /** Use ADD_MEM_REG instead of SET_MEM_TABLE when CONFIGURE_MEM_SLOTS is offered (default false). */
  addMemReg?: boolean;
}

/** One queue of a set-up device, driven from the front-end. */
export class FrontendQueue {
  /** Queue index. */
  readonly index: number;
  /** The driver side of the ring. */
  readonly driver: DriverQueue;
  /** Kick eventfd (front-end writes). */
  readonly kick: number;
  /** Call eventfd (back-end writes). */
  readonly call: number;
  /** Ring addresses (guest-physical). */
  readonly rings: { desc: bigint; driver: bigint; device: bigint };
  readonly #callSet: PollSet;
  #kicks = 0;

  /** Wraps an initialised driver queue and its eventfds. */
  constructor(
    index: number,
    driver: DriverQueue,
    fds: { kick: number; call: number },
    rings: { desc: bigint; driver: bigint; device: bigint },
  ) {
    this.index = index;
    this.driver = driver;
    this.kick = fds.kick;
    this.call = fds.call;
    this.rings = rings;
    this.#callSet = new PollSet([fds.call]);
  }

  /** Kicks sent so far. */
  get kicks(): number {
    return this.#kicks;
  }

  /**
   * Makes a request available (readable parts, then writable space of
   * `replySize` bytes, or one writable part per size listed) and kicks when
   * the back-end asked for it. Returns the token, or null when the ring or
   * buffer memory is full.
   */
  submit(
    readable: Uint8Array | Uint8Array[],
    replySize: number | readonly number[],
  ): number | null {
    const parts = readable instanceof Uint8Array ? [readable] : readable;
    const sizes = typeof replySize === "number" ? (replySize > 0 ? [replySize] : []) : replySize;
    const t = this.driver.add(parts, sizes);
    if (t === null) return null;
    this.notify();
    return t;
  }

  /** Kicks the back-end if the ring's notification suppression says so. */
  notify(): void {
    fence();
    if (this.driver.kickNeeded()) {
      eventfdWrite(this.kick);
      this.#kicks++;
    }
  }

  /** Kicks unconditionally. */
  forceKick(): void {
    eventfdWrite(this.kick);
    this.#kicks++;
  }

  /**
   * Waits (blocking this thread) until at least one used buffer is there and
   * returns all of them; an empty list when `timeoutMs` passes first. With
   * `spinMicroseconds` it first watches the used ring that long without
   * sleeping.
   */
  waitUsed(timeoutMs = 5000, options: { spinMicroseconds?: number } = {}): UsedBuffer[] {
    const now = performance.now();
    const deadline = now + timeoutMs;
    // watching the used ring before sleeping: a benchmark then measures the
    // back-end, not this thread's wake-up (tens of us on a VM)
    const spinUntil = now + (options.spinMicroseconds ?? 0) / 1000;
    for (;;) {
      const used = this.driver.takeUsed();
      if (used.length > 0) return used;
      if (performance.now() < spinUntil) continue;
      fence();
      if (this.driver.enableInterrupts()) continue;
      const left = deadline - performance.now();
      if (left <= 0) return [];
      if (this.#callSet.wait(Math.ceil(left)) > 0) eventfdRead(this.call);
    }
  }

  /** {@linkcode FrontendQueue.waitUsed} without blocking the event loop. */
  async waitUsedAsync(timeoutMs = 5000): Promise<UsedBuffer[]> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const used = this.driver.takeUsed();
      if (used.length > 0) return used;
      fence();
      if (this.driver.enableInterrupts()) continue;
      const left = deadline - performance.now();
      if (left <= 0) return [];
      if (await pollAsync([{ fd: this.call, events: POLLIN }], Math.ceil(left)) > 0) {
        eventfdRead(this.call);
      }
    }
  }

  /** Sends one request and waits for its used buffer; throws on timeout. */
  roundTrip(request: Uint8Array, replySize: number, timeoutMs = 5000): UsedBuffer {
    const token = this.submit(request, replySize);
    if (token === null) throw new Error(`queue ${this.index} is full`);
    const used = this.waitUsed(timeoutMs);
    if (used.length === 0) throw new Error(`queue ${this.index}: no answer in ${timeoutMs} ms`);
    if (used.length !== 1 || used[0].token !== token) {
      throw new Error(`queue ${this.index}: expected one used buffer, got ${used.length}`);
    }
    return used[0];
  }

  /** {@linkcode FrontendQueue.roundTrip} without blocking the event loop. */
  async roundTripAsync(
    request: Uint8Array,
    replySize: number | readonly number[],
    timeoutMs = 5000,
  ): Promise<UsedBuffer> {
    const token = this.submit(request, replySize);
    if (token === null) throw new Error(`queue ${this.index} is full`);
    const used = await this.waitUsedAsync(timeoutMs);
    if (used.length === 0) throw new Error(`queue ${this.index}: no answer in ${timeoutMs} ms`);
    if (used.length !== 1 || used[0].token !== token) {
      throw new Error(`queue ${this.index}: expected one used buffer, got ${used.length}`);
    }
    return used[0];
  }
}

/** A device set up by {@linkcode VhostUserFrontend.setUp}. */
export interface FrontendDevice {
  /** The shared guest memory. */
  memory: SharedGuestMemory;
  /** The queues, by index. */
  queues: FrontendQueue[];
  /** Virtio features negotiated. */
  features: bigint;
  /** Protocol features negotiated. */
  protocolFeatures: bigint;
  /** GET_QUEUE_NUM's answer. */
  maxQueues: number;
}

/** A connection to a vhost-user back-end. */
export class VhostUserFrontend {
  /** The socket. */
  readonly fd: number;
  #device: FrontendDevice | undefined;
  #closed = false;

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Connects to the back-end listening at `path`, retrying until `timeoutMs` (default 5000). */
  static async connect(
    path: string,
    options: { timeoutMs?: number } = {},
  ): Promise<VhostUserFrontend> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000);
    for (;;) {
      try {
        const fd = connectUnix(path);
        setNonblocking(fd, true);
        return new VhostUserFrontend(fd);
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** The device set up on this connection, if any. */
  get device(): FrontendDevice | undefined {
    return this.#device;
  }

  /** Sends raw bytes (a well-formed or deliberately broken message) with optional fds. */
  sendRaw(bytes: Uint8Array, fds: number[] = []): void {
    sendMsg(this.fd, bytes, { fds });
  }

  /**
   * Reads one reply; resolves `null` at end of stream (the back-end hung up)
   * and throws on timeout.
   */
  async readReply(timeoutMs = 5000): Promise<VhostUserMessage | null> {
    const bytes = await this.readReplyBytes(timeoutMs);
    if (bytes === null) return null;
    const msg = decodeMessage(bytes);
    if ((msg.flags & VHOST_USER_REPLY_MASK) === 0) throw new Error("the back-end sent a non-reply");
    return msg;
  }

  /** Reads one whole message as bytes (header and payload); `null` at end of stream. */
  async readReplyBytes(timeoutMs = 5000): Promise<Uint8Array | null> {
    let buf = new Uint8Array(VHOST_USER_HEADER_SIZE);
    let have = 0;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const need = messageBytesNeeded(buf.subarray(0, have));
      if (have >= need) break;
      if (buf.length < need) {
        const b = new Uint8Array(need);
        b.set(buf.subarray(0, have));
        buf = b;
      }
      const r = recvMsg(this.fd, buf.subarray(have, need), { dontWait: true });
      r.fds.forEach((f) => close(f));
      if (r.bytes === 0) return null;
      if (r.bytes > 0) {
        have += r.bytes;
        continue;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply from the back-end within ${timeoutMs} ms`);
      await pollAsync([{ fd: this.fd, events: POLLIN }], Math.ceil(left));
    }
    return buf.subarray(0, have);
  }

  /**
   * Sends a request; resolves its reply when one is expected (NEED_REPLY, or
   * `expectReply`), otherwise `null` at once.
   */
  async request(
    request: number,
    payload: VhostUserPayload,
    options: RequestOptions = {},
  ): Promise<VhostUserMessage | null> {
    this.sendRaw(encodeRequest(request, payload, { needReply: options.needReply }), options.fds);
    if (!options.needReply && !options.expectReply) return null;
    const reply = await this.readReply(options.timeoutMs);
    if (reply === null) throw new Error("the back-end closed the connection");
    if (reply.request !== request) {
      throw new Error(`reply to request ${reply.request}, expected ${request}`);
    }
    return reply;
  }

  /** Sends a GET_* request and returns its u64 answer. */
  async getU64(request: number): Promise<bigint> {
    const r = await this.request(request, { kind: "none" }, { expectReply: true });
    if (r?.payload.kind !== "u64") throw new Error(`request ${request}: no u64 reply`);
    return r.payload.u64;
  }

  /** Sends a request with NEED_REPLY; throws when the REPLY_ACK reports failure. */
  async ack(request: number, payload: VhostUserPayload, fds?: number[]): Promise<void> {
    const r = await this.request(request, payload, { needReply: true, fds });
    const v = r?.payload.kind === "u64" ? r.payload.u64 : -1n;
    if (v !== 0n) throw new Error(`request ${request} failed (REPLY_ACK ${v})`);
  }

  /**
   * Negotiates and sets up a device: features, protocol features, owner,
   * memory, and every queue's size, addresses, base, call and kick eventfds,
   * enabled. Rings and request buffers are laid out in the shared memory.
   */
  async setUp(options: SetUpOptions = {}): Promise<FrontendDevice> {
    const queues = options.queues ?? 2;
    const queueSize = options.queueSize ?? 128;
    const memorySize = options.memorySize ?? 8 << 20;
    const layout = options.layout ?? "split";
    const offered = await this.getU64(FrontendRequest.GET_FEATURES);
    let want = featureBit(VIRTIO_F.VERSION_1) | featureBit(30);
    if (options.eventIdx ?? true) want |= featureBit(VIRTIO_F.EVENT_IDX);
    if (options.indirect ?? true) want |= featureBit(VIRTIO_F.INDIRECT_DESC);
    if (layout === "packed") want |= featureBit(VIRTIO_F.RING_PACKED);
    const features = offered & want;
    if (layout === "packed" && (features & featureBit(VIRTIO_F.RING_PACKED)) === 0n) {
      throw new Error("the back-end does not offer VIRTIO_F_RING_PACKED");
    }
    await this.request(FrontendRequest.SET_FEATURES, { kind: "u64", u64: features });
    let protocolFeatures = 0n;
    if ((offered & featureBit(30)) !== 0n) {
      const p = await this.getU64(FrontendRequest.GET_PROTOCOL_FEATURES);
      const wantP = [
        ProtocolFeature.MQ,
        ProtocolFeature.REPLY_ACK,
        ProtocolFeature.CONFIGURE_MEM_SLOTS,
        ProtocolFeature.STATUS,
        ProtocolFeature.RESET_DEVICE,
      ].reduce((a, b) => a | (1n << BigInt(b)), 0n);
      protocolFeatures = p & wantP;
      await this.request(FrontendRequest.SET_PROTOCOL_FEATURES, {
        kind: "u64",
        u64: protocolFeatures,
      });
    }
    const replyAck = (protocolFeatures & (1n << BigInt(ProtocolFeature.REPLY_ACK))) !== 0n;
    const send = async (req: number, payload: VhostUserPayload, fds?: number[]) => {
      if (replyAck) await this.ack(req, payload, fds);
      else await this.request(req, payload, { fds });
    };
    await send(FrontendRequest.SET_OWNER, { kind: "none" });
    let maxQueues = queues;
    if ((protocolFeatures & (1n << BigInt(ProtocolFeature.MQ))) !== 0n) {
      maxQueues = Number(await this.getU64(FrontendRequest.GET_QUEUE_NUM));
      if (queues > maxQueues) throw new Error(`the back-end serves ${maxQueues} queues at most`);
    }
    const memory = createSharedGuestMemory(memorySize);
    const region = {
      guestPhysAddr: memory.guestAddr,
      memorySize: BigInt(memory.size),
      userspaceAddr: memory.userAddr,
      mmapOffset: 0n,
    };
    const slots = (protocolFeatures & (1n << BigInt(ProtocolFeature.CONFIGURE_MEM_SLOTS))) !== 0n;
    if (options.addMemReg && slots) {
      await send(FrontendRequest.ADD_MEM_REG, { kind: "mem_reg", region }, [memory.fd]);
    } else {
      await send(FrontendRequest.SET_MEM_TABLE, { kind: "memory", regions: [region] }, [memory.fd]);
    }
    // rings first, then the rest split between the queues as buffer space
    let next = 0x1000n;
    const ringAt: { desc: bigint; driver: bigint; device: bigint }[] = [];
    for (let q = 0; q < queues; q++) {
      if (layout === "split") {
        const l = splitRingLayout(next, queueSize);
        ringAt.push({ desc: l.desc, driver: l.avail, device: l.used });
        next = (l.end + 0xfffn) & ~0xfffn;
      } else {
        const desc = next;
        const driver = desc + BigInt(16 * queueSize);
        const device = driver + 16n;
        ringAt.push({ desc, driver, device });
        next = (device + 16n + 0xfffn) & ~0xfffn;
      }
    }
    const bufBytes = Math.floor((memorySize - Number(next)) / queues) & ~0xfff;
    const eventIdx = (features & featureBit(VIRTIO_F.EVENT_IDX)) !== 0n;
    const indirect = (features & featureBit(VIRTIO_F.INDIRECT_DESC)) !== 0n;
    const out: FrontendQueue[] = [];
    for (let q = 0; q < queues; q++) {
      const r = ringAt[q];
      const driver = createDriverQueue(layout, memory.memory, {
        size: queueSize,
        desc: r.desc,
        driver: r.driver,
        device: r.device,
        eventIdx,
        indirect,
      }, { buffers: { addr: next + BigInt(q * bufBytes), size: bufBytes } });
      const kick = eventfd({ nonblocking: true });
      const call = eventfd({ nonblocking: true });
      await send(FrontendRequest.SET_VRING_NUM, { kind: "vring_state", index: q, num: queueSize });
      await send(FrontendRequest.SET_VRING_ADDR, {
        kind: "vring_addr",
        index: q,
        flags: 0,
        descUserAddr: memory.userAddr + r.desc,
        availUserAddr: memory.userAddr + r.driver,
        usedUserAddr: memory.userAddr + r.device,
        logGuestAddr: 0n,
      });
      await send(FrontendRequest.SET_VRING_BASE, {
        kind: "vring_state",
        index: q,
        num: layout === "packed" ? 0x8000 | (0x8000 << 16) : 0,
      });
      await send(FrontendRequest.SET_VRING_CALL, { kind: "u64", u64: BigInt(q) }, [call]);
      await send(FrontendRequest.SET_VRING_KICK, { kind: "u64", u64: BigInt(q) }, [kick]);
      if ((features & featureBit(30)) !== 0n) {
        await send(FrontendRequest.SET_VRING_ENABLE, { kind: "vring_state", index: q, num: 1 });
      }
      out.push(new FrontendQueue(q, driver, { kick, call }, r));
    }
    this.#device = { memory, queues: out, features, protocolFeatures, maxQueues };
    return this.#device;
  }

  /** GET_VRING_BASE for `index` (stops that ring in the back-end). */
  async getVringBase(index: number): Promise<number> {
    const r = await this.request(FrontendRequest.GET_VRING_BASE, {
      kind: "vring_state",
      index,
      num: 0,
    }, { expectReply: true });
    if (r?.payload.kind !== "vring_state") throw new Error("GET_VRING_BASE: no vring_state reply");
    return r.payload.num;
  }

  /** Sends SET_VRING_ERR for `index` with a new eventfd and returns it. */
  async setVringErr(index: number): Promise<number> {
    const err = eventfd({ nonblocking: true });
    await this.ack(FrontendRequest.SET_VRING_ERR, { kind: "u64", u64: BigInt(index) }, [err]);
    return err;
  }

  /** Replaces the call eventfd of `index` (NOFD when `fd` is -1). */
  async setVringCall(index: number, fd: number): Promise<void> {
    const u64 = BigInt(index) | (fd < 0 ? VHOST_USER_VRING_NOFD_MASK : 0n);
    await this.ack(FrontendRequest.SET_VRING_CALL, { kind: "u64", u64 }, fd < 0 ? [] : [fd]);
  }

  /** Hangs up and releases the memory, eventfds and socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      close(this.fd);
    } catch {
      // gone
    }
    const d = this.#device;
    if (d !== undefined) {
      for (const q of d.queues) {
        close(q.kick);
        close(q.call);
      }
      munmap(d.memory.mapping);
      close(d.memory.fd);
    }
  }
}
