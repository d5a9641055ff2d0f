/**
 * The vhost-user-fs back-end: the device side of QEMU's `vhost-user-fs-pci`.
 *
 * The control plane runs here, on the calling thread: it listens on a Unix
 * socket, accepts one front-end at a time, reads each vhost-user message and
 * its file descriptors (waiting with an awaitable poll, so the event loop
 * stays free), maps guest memory, keeps the vring state and answers. The data
 * plane is one Worker (_worker.ts) that owns the FUSE server and serves every
 * queue with synchronous FFI.
 *
 * When a front-end goes away (QEMU exits, the guest reboots) the back-end
 * drops that guest's memory, descriptors and FUSE session and waits for the
 * next one: it serves guest after guest until {@linkcode VhostUserBackend.close}.
 *
 * @module
 */
import {
  decodeHeader,
  encodeReply,
  FrontendRequest,
  messageBytesNeeded,
  ProtocolFeature,
  requestName,
  tryDecodeMessage,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_NEED_REPLY_MASK,
  VHOST_USER_REPLY_MASK,
  VHOST_USER_VERSION,
  VHOST_USER_VRING_IDX_MASK,
  VHOST_USER_VRING_NOFD_MASK,
  type VhostUserMemoryRegion,
  type VhostUserMessage,
  type VhostUserPayload,
} from "../../codecs/vhost_user/mod.ts";
import { featureBit, VIRTIO_F, VIRTIO_STATUS } from "../../codecs/virtio/mod.ts";
import { accept, close, listenUnix, recvMsg, sendMsg } from "../../sys/socket.ts";
import { type Mapping, mmap, munmap } from "../../sys/mmap.ts";
import { eventfd, eventfdWrite } from "../../sys/eventfd.ts";
import { pollAsync, POLLIN } from "../../sys/poll.ts";
import type {
  FromWorker,
  ServerFactorySpec,
  ToWorker,
  WorkerCommand,
  WorkerQueue,
  WorkerRecording,
  WorkerRegion,
} from "./_protocol.ts";

export type { ServerFactorySpec, WorkerRecording } from "./_protocol.ts";

const timeOriginNs = BigInt(Math.round(performance.timeOrigin * 1000)) * 1000n;
function nowNs(): bigint {
  return timeOriginNs + BigInt(Math.round(performance.now() * 1e6));
}

const PAGE = 4096n;
const MAP_SHARED = 0x01;
const MAP_NORESERVE = 0x4000;
/** Memory slots offered with CONFIGURE_MEM_SLOTS. */
export const VHOST_USER_MAX_MEM_SLOTS = 32;
/** Largest queue size accepted. */
const MAX_QUEUE_SIZE = 32768;

/** Protocol features this back-end offers (never CONFIG: it crashes QEMU 7.1-8.0). */
export const BACKEND_PROTOCOL_FEATURES: bigint = [
  ProtocolFeature.MQ,
  ProtocolFeature.REPLY_ACK,
  ProtocolFeature.RESET_DEVICE,
  ProtocolFeature.CONFIGURE_MEM_SLOTS,
  ProtocolFeature.STATUS,
].reduce((a, b) => a | (1n << BigInt(b)), 0n);

/** Requests whose reply carries a body (answered even without NEED_REPLY). */
const EXPLICIT_REPLY = new Set<number>([
  FrontendRequest.GET_FEATURES,
  FrontendRequest.GET_PROTOCOL_FEATURES,
  FrontendRequest.GET_VRING_BASE,
  FrontendRequest.GET_QUEUE_NUM,
  FrontendRequest.GET_MAX_MEM_SLOTS,
  FrontendRequest.GET_STATUS,
  FrontendRequest.GET_CONFIG,
  FrontendRequest.SET_LOG_BASE,
  FrontendRequest.CREATE_CRYPTO_SESSION,
  FrontendRequest.POSTCOPY_ADVISE,
  FrontendRequest.POSTCOPY_END,
  FrontendRequest.GET_INFLIGHT_FD,
  FrontendRequest.GET_SHARED_OBJECT,
  FrontendRequest.SET_DEVICE_STATE_FD,
  FrontendRequest.CHECK_DEVICE_STATE,
  FrontendRequest.GET_SHMEM_CONFIG,
]);

/** Options of {@linkcode startVhostUserBackend}. */
export interface VhostUserBackendOptions {
  /**
   * The FUSE server the Worker builds (default: the engine's passthrough
   * over `sharedDir` with {@linkcode VhostUserBackendOptions.passthrough}).
   */
  server?: ServerFactorySpec;
  /** Options of the engine's passthrough (`cache`, `readonly`, `xattr`, `writeback`, ...). */
  passthrough?: Record<string, unknown>;
  /** Request queues offered besides the hiprio queue (default 1). */
  queues?: number;
  /** Offer VIRTIO_F_RING_PACKED (default true). */
  packed?: boolean;
  /** Where diagnostics go (default: stderr with a `ringside serve:` prefix). */
  log?: (line: string) => void;
  /**
   * Record the device to a pcapng file (engine/recorder.ts's `recorderSpec`
   * builds this): the queue Worker owns the file and records FUSE requests and
   * replies per virtqueue with their chains, kicks, calls, chains returned
   * used (malformed ones too), and the control messages this thread posts to
   * it. Each front-end gets its own pcapng section.
   */
  record?: WorkerRecording;
  /**
   * Adaptive ring polling: after each burst of requests the queue Worker
   * keeps watching the available rings (no system call; the driver is told
   * not to kick) for a window of at most this many us before it sleeps in
   * poll(2) (default 1000, a slow TCG guest's turn-around; 0: sleep at once). The
   * window grows while requests come back within it and shrinks while they
   * do not, and polling pauses while it spins more than two windows per
   * request caught, so a guest that is slow to come back costs little CPU;
   * one that comes back within it is served without a kick or a thread
   * wake-up (tens of us on a VM). The spin yields its core to threads
   * waiting for it (QEMU's, on a small host). On a 2-CPU VM host a TCG
   * guest's turn-around ranged from about 100 us to several hundred from day
   * to day; a window of 1000 caught it on every day and beat 256 on every
   * in-guest metadata row (see the Worker's notes). The price is CPU: there
   * a full fsbench run cost 5.9-8.1 CPU seconds with 1000 and 1.6-2.5 with
   * 0, against virtiofsd's 1.1-1.9 (bench/guest_ab_bench.ts reports it).
   */
  spinMicroseconds?: number;
  /**
   * Threads that copy one large READ (256 KiB or more) into guest memory: 1
   * (the default) keeps every read one `preadv`; 2 has a helper thread take
   * half of its chunks, watching for the next large READ for 1 ms after each
   * (yielding its core), then sleeping. Guest-free, two threads copied a MiB
   * faster; behind a real guest on a 2-CPU VM host they were slower (the
   * Worker's in-guest timing of a 1 MiB cache=never READ: 82-113 us as one
   * `preadv`, 119-141 us split; bench/guest_bench.ts pairs 1.12x read MiB/s
   * for one thread), so a second thread is opt-in.
   */
  readThreads?: 1 | 2;
  /** Called whenever a front-end connects (`connected`) or goes away (`disconnected`). */
  onEvent?: (event: { type: "connected" | "disconnected"; connection: number }) => void;
}

/** A running back-end. */
export interface VhostUserBackend {
  /** The listening socket's path. */
  readonly socketPath: string;
  /** Front-ends accepted so far. */
  readonly connections: number;
  /** Queues that entered needs-reset so far (all connections). */
  readonly needsResetCount: number;
  /** Malformed vhost-user messages seen so far (all connections). */
  readonly malformedMessages: number;
  /** Settles when the back-end has stopped. */
  readonly done: Promise<void>;
  /** Stops: drops the current front-end, ends the Worker, removes the socket file. */
  close(): Promise<void>;
}

interface MappedRegion {
  region: VhostUserMemoryRegion;
  mapping: Mapping;
  /** Address of the region's first byte in this process. */
  address: bigint;
}

interface Vring {
  size: number;
  desc: bigint;
  avail: bigint;
  used: bigint;
  addrSet: boolean;
  base: number;
  kick: number;
  call: number;
  err: number;
  enabled: boolean;
  started: boolean;
}

function newVring(enabled: boolean): Vring {
  return {
    size: 0,
    desc: 0n,
    avail: 0n,
    used: 0n,
    addrSet: false,
    base: 0,
    kick: -1,
    call: -1,
    err: -1,
    enabled,
    started: false,
  };
}

class Failure extends Error {}

function closeQuietly(fd: number): void {
  if (fd < 0) return;
  try {
    close(fd);
  } catch {
    // already gone
  }
}

/** A reply u64 to `request` without going through the table (for unknown requests too). */
function rawU64Reply(request: number, value: bigint): Uint8Array {
  const b = new Uint8Array(VHOST_USER_HEADER_SIZE + 8);
  const v = new DataView(b.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, true);
  v.setUint32(8, 8, true);
  v.setBigUint64(12, value, true);
  return b;
}

function rawEmptyReply(request: number): Uint8Array {
  const b = new Uint8Array(VHOST_USER_HEADER_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, true);
  return b;
}

class Backend implements VhostUserBackend {
  readonly socketPath: string;
  connections = 0;
  needsResetCount = 0;
  malformedMessages = 0;
  done: Promise<void>;

  #listenFd: number;
  #wakeFd: number;
  #closing = false;
  #log: (line: string) => void;
  #onEvent: VhostUserBackendOptions["onEvent"];
  #worker: Worker;
  #controlFd: number;
  #nextId = 1;
  #waiting = new Map<number, (m: FromWorker & { type: "done" }) => void>();
  #workerFailed: string | undefined;
  #maxQueues: number;
  #offeredFeatures: bigint;
  #recording: boolean;

  // per connection
  #conn = -1;
  #features = 0n;
  #protocolFeatures = 0n;
  #status = 0;
  #needsReset = false;
  #regions: MappedRegion[] = [];
  #vrings: Vring[] = [];

  constructor(
    socketPath: string,
    listenFd: number,
    worker: Worker,
    controlFd: number,
    options: VhostUserBackendOptions,
  ) {
    this.socketPath = socketPath;
    this.#listenFd = listenFd;
    this.#worker = worker;
    this.#controlFd = controlFd;
    this.#wakeFd = eventfd({ nonblocking: true });
    this.#log = options.log ?? defaultLog;
    this.#onEvent = options.onEvent;
    this.#recording = options.record !== undefined;
    this.#maxQueues = 1 + (options.queues ?? 1);
    this.#offeredFeatures = featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.INDIRECT_DESC) |
      featureBit(VIRTIO_F.EVENT_IDX) | featureBit(30) |
      ((options.packed ?? true) ? featureBit(VIRTIO_F.RING_PACKED) : 0n);
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.#fromWorker(e.data);
    this.#resetConnectionState();
    this.done = this.#acceptLoop();
  }

  #fromWorker(m: FromWorker): void {
    switch (m.type) {
      case "done": {
        const w = this.#waiting.get(m.id);
        this.#waiting.delete(m.id);
        w?.(m);
        return;
      }
      case "log":
        this.#log(m.line);
        return;
      case "needs-reset":
        this.needsResetCount++;
        this.#needsReset = true;
        this.#log(`queue ${m.index} needs a reset: ${m.reason}`);
        return;
      case "failed":
        this.#workerFailed = m.message;
        this.#log(m.message);
        for (const w of this.#waiting.values()) w({ type: "done", id: 0, error: m.message });
        this.#waiting.clear();
        return;
      case "ready":
        return;
    }
  }

  /** Sends a command to the Worker and waits for its answer. */
  #command(
    m: WorkerCommand,
  ): Promise<FromWorker & { type: "done" }> {
    if (this.#workerFailed !== undefined) {
      return Promise.resolve({ type: "done", id: 0, error: this.#workerFailed });
    }
    const id = this.#nextId++;
    const p = new Promise<FromWorker & { type: "done" }>((resolve) => {
      this.#waiting.set(id, resolve);
    });
    this.#worker.postMessage({ ...m, id } as ToWorker);
    eventfdWrite(this.#controlFd);
    return p;
  }

  /**
   * Hands a control message to the Worker's recorder, announced on the
   * control eventfd like a command so that the Worker writes it before it
   * serves further kicks (the capture stays in time order).
   */
  #record(bytes: Uint8Array, direction: "front_to_back" | "back_to_front", fdCount: number) {
    if (!this.#recording || this.#workerFailed !== undefined) return;
    const message: ToWorker = {
      type: "record",
      messages: [{ bytes, direction, fdCount, timeNs: nowNs() }],
    };
    this.#worker.postMessage(message);
    eventfdWrite(this.#controlFd);
  }

  /** Sends a reply to the front-end (and records it). */
  #send(conn: number, bytes: Uint8Array): void {
    this.#record(bytes, "back_to_front", 0);
    sendMsg(conn, bytes);
  }

  #resetConnectionState(): void {
    this.#features = 0n;
    this.#protocolFeatures = 0n;
    this.#status = 0;
    this.#needsReset = false;
    this.#vrings = Array.from({ length: this.#maxQueues }, () => newVring(true));
  }

  async #acceptLoop(): Promise<void> {
    try {
      while (!this.#closing) {
        const set = [{ fd: this.#listenFd, events: POLLIN }, { fd: this.#wakeFd, events: POLLIN }];
        await pollAsync(set, -1);
        if (this.#closing) break;
        const conn = accept(this.#listenFd, { nonblocking: true });
        if (conn < 0) continue;
        this.connections++;
        const n = this.connections;
        this.#conn = conn;
        this.#onEvent?.({ type: "connected", connection: n });
        try {
          await this.#serveConnection(conn);
        } catch (e) {
          this.#log(`front-end ${n}: ${(e as Error).message}; dropping it`);
        }
        await this.#endConnection();
        this.#onEvent?.({ type: "disconnected", connection: n });
      }
    } finally {
      await this.#command({ type: "exit" }).catch(() => {});
      this.#worker.terminate();
      closeQuietly(this.#controlFd);
      closeQuietly(this.#listenFd);
      closeQuietly(this.#wakeFd);
      try {
        if (Deno.lstatSync(this.socketPath).isSocket) Deno.removeSync(this.socketPath);
      } catch {
        // already gone
      }
    }
  }

  /** Drops everything the front-end gave: rings, fds, memory and the FUSE session. */
  async #endConnection(): Promise<void> {
    const r = await this.#command({
      type: "reset",
      memory: true,
      session: true,
      endSection: true,
    });
    if (r.error !== undefined) this.#log(`resetting the session failed: ${r.error}`);
    for (const v of this.#vrings) this.#closeVringFds(v);
    this.#unmapAll(this.#regions);
    this.#regions = [];
    closeQuietly(this.#conn);
    this.#conn = -1;
    this.#resetConnectionState();
  }

  #closeVringFds(v: Vring): void {
    closeQuietly(v.kick);
    closeQuietly(v.call);
    closeQuietly(v.err);
    v.kick = v.call = v.err = -1;
  }

  #unmapAll(regions: MappedRegion[]): void {
    for (const r of regions) {
      try {
        munmap(r.mapping);
      } catch (e) {
        this.#log(`munmap failed: ${(e as Error).message}`);
      }
    }
  }

  /** Reads exactly `buf.length` bytes; fds that come along are appended to `fds`. False at end of stream. */
  async #readFull(conn: number, buf: Uint8Array, fds: number[]): Promise<boolean> {
    let have = 0;
    while (have < buf.length) {
      const r = recvMsg(conn, buf.subarray(have), { dontWait: true });
      fds.push(...r.fds);
      if (r.bytes === 0) return false;
      if (r.bytes > 0) {
        have += r.bytes;
        continue;
      }
      const set = [{ fd: conn, events: POLLIN }, { fd: this.#wakeFd, events: POLLIN }];
      await pollAsync(set, -1);
      if (this.#closing) return false;
    }
    return true;
  }

  async #serveConnection(conn: number): Promise<void> {
    const header = new Uint8Array(VHOST_USER_HEADER_SIZE);
    for (;;) {
      const fds: number[] = [];
      if (!await this.#readFull(conn, header, fds)) {
        fds.forEach(closeQuietly);
        return;
      }
      let total: number;
      try {
        total = messageBytesNeeded(header);
      } catch (e) {
        this.#record(header.slice(), "front_to_back", fds.length);
        fds.forEach(closeQuietly);
        this.malformedMessages++;
        throw new Error(`malformed message header: ${(e as Error).message}`);
      }
      const bytes = new Uint8Array(total);
      bytes.set(header);
      if (!await this.#readFull(conn, bytes.subarray(VHOST_USER_HEADER_SIZE), fds)) {
        fds.forEach(closeQuietly);
        return;
      }
      this.#record(bytes, "front_to_back", fds.length);
      const h = decodeHeader(bytes);
      const wantsReply = (h.flags & VHOST_USER_NEED_REPLY_MASK) !== 0 ||
        EXPLICIT_REPLY.has(h.request);
      const decoded = tryDecodeMessage(bytes, { fdCount: fds.length });
      if (!decoded.ok) {
        fds.forEach(closeQuietly);
        this.malformedMessages++;
        const what = `malformed ${requestName(h.request)}: ${decoded.error.message}`;
        if (!wantsReply) throw new Error(what);
        this.#log(`${what}; answering with an error`);
        this.#send(
          conn,
          h.request === FrontendRequest.GET_CONFIG
            ? rawEmptyReply(h.request)
            : rawU64Reply(h.request, 1n),
        );
        continue;
      }
      await this.#dispatch(conn, decoded.message, fds);
    }
  }

  async #dispatch(conn: number, msg: VhostUserMessage, fds: number[]): Promise<void> {
    const needReply = (msg.flags & VHOST_USER_NEED_REPLY_MASK) !== 0;
    let reply: VhostUserPayload | undefined;
    let ok = true;
    try {
      reply = await this.#handle(msg, fds);
    } catch (e) {
      ok = false;
      const reason = e instanceof Failure ? e.message : `${(e as Error).message}`;
      this.#log(`${requestName(msg.request)} failed: ${reason}`);
    } finally {
      // descriptors a handler did not take (it empties the list when it does)
      fds.forEach(closeQuietly);
    }
    if (EXPLICIT_REPLY.has(msg.request)) {
      if (ok && reply !== undefined) this.#send(conn, encodeReply(msg.request, reply));
      else if (msg.request === FrontendRequest.GET_CONFIG) {
        this.#send(conn, rawEmptyReply(msg.request));
      } else this.#send(conn, rawU64Reply(msg.request, 1n));
    } else if (needReply) {
      this.#send(conn, rawU64Reply(msg.request, ok ? 0n : 1n));
    }
  }

  #vring(index: number): Vring {
    if (!Number.isInteger(index) || index < 0 || index >= this.#vrings.length) {
      throw new Failure(`queue index ${index} is not below ${this.#vrings.length}`);
    }
    return this.#vrings[index];
  }

  #workerQueue(index: number): WorkerQueue {
    const v = this.#vrings[index];
    return {
      index,
      layout: (this.#features & featureBit(VIRTIO_F.RING_PACKED)) !== 0n ? "packed" : "split",
      size: v.size,
      desc: v.desc,
      avail: v.avail,
      used: v.used,
      base: v.base,
      kick: v.kick,
      call: v.call,
      err: v.err,
      enabled: v.enabled,
      started: v.started,
      eventIdx: (this.#features & featureBit(VIRTIO_F.EVENT_IDX)) !== 0n,
      indirect: (this.#features & featureBit(VIRTIO_F.INDIRECT_DESC)) !== 0n,
    };
  }

  async #pushQueue(index: number): Promise<void> {
    const r = await this.#command({ type: "queue", queue: this.#workerQueue(index) });
    if (r.error !== undefined) throw new Failure(r.error);
  }

  async #pushMemory(regions: MappedRegion[]): Promise<void> {
    const list: WorkerRegion[] = regions.map((r) => ({
      guestAddr: r.region.guestPhysAddr,
      size: Number(r.region.memorySize),
      userAddr: r.region.userspaceAddr,
      address: r.address,
    }));
    const r = await this.#command({ type: "memory", regions: list });
    if (r.error !== undefined) throw new Failure(`memory table rejected: ${r.error}`);
  }

  #mapRegion(region: VhostUserMemoryRegion, fd: number): MappedRegion {
    try {
      const size = region.memorySize;
      if (size === 0n || size > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new Failure(`region size ${size} is not mappable`);
      }
      const aligned = region.mmapOffset & ~(PAGE - 1n);
      const delta = region.mmapOffset - aligned;
      const mapping = mmap(fd, Number(size + delta), {
        offset: aligned,
        flags: MAP_SHARED | MAP_NORESERVE,
      });
      const address = Deno.UnsafePointer.value(mapping.pointer) + delta;
      return { region, mapping, address: BigInt(address) };
    } finally {
      closeQuietly(fd);
    }
  }

  /** Replaces the set of mapped regions: tells the Worker first, unmaps what it no longer uses. */
  async #setRegions(next: MappedRegion[]): Promise<void> {
    const old = this.#regions;
    this.#regions = next;
    try {
      await this.#pushMemory(next);
    } finally {
      this.#unmapAll(old.filter((r) => !next.includes(r)));
    }
  }

  async #handle(msg: VhostUserMessage, fds: number[]): Promise<VhostUserPayload | undefined> {
    const p = msg.payload;
    const R = FrontendRequest;
    switch (msg.request) {
      case R.GET_FEATURES:
        return { kind: "u64", u64: this.#offeredFeatures };
      case R.SET_FEATURES: {
        const f = (p as { u64: bigint }).u64;
        const unknown = f & ~this.#offeredFeatures;
        if (unknown !== 0n) {
          throw new Failure(`features 0x${unknown.toString(16)} were not offered`);
        }
        this.#features = f;
        if ((f & featureBit(30)) === 0n) {
          // without protocol features rings start enabled
          for (const v of this.#vrings) v.enabled = true;
        }
        return undefined;
      }
      case R.GET_PROTOCOL_FEATURES:
        return { kind: "u64", u64: BACKEND_PROTOCOL_FEATURES };
      case R.SET_PROTOCOL_FEATURES: {
        const f = (p as { u64: bigint }).u64;
        if ((f & ~BACKEND_PROTOCOL_FEATURES) !== 0n) {
          throw new Failure(`protocol features 0x${f.toString(16)} were not offered`);
        }
        this.#protocolFeatures = f;
        // with protocol features, rings start disabled until SET_VRING_ENABLE
        for (const v of this.#vrings) if (!v.started) v.enabled = false;
        return undefined;
      }
      case R.SET_OWNER:
        return undefined;
      case R.RESET_OWNER:
      case R.RESET_DEVICE:
        await this.#resetDevice();
        return undefined;
      case R.GET_QUEUE_NUM:
        return { kind: "u64", u64: BigInt(this.#maxQueues) };
      case R.GET_MAX_MEM_SLOTS:
        return { kind: "u64", u64: BigInt(VHOST_USER_MAX_MEM_SLOTS) };
      case R.SET_MEM_TABLE: {
        const regions = (p as { regions: VhostUserMemoryRegion[] }).regions;
        const taken = fds.splice(0);
        const mapped: MappedRegion[] = [];
        try {
          regions.forEach((r, i) => mapped.push(this.#mapRegion(r, taken[i])));
        } catch (e) {
          taken.slice(mapped.length + 1).forEach(closeQuietly);
          this.#unmapAll(mapped);
          throw e;
        }
        await this.#setRegions(mapped);
        return undefined;
      }
      case R.ADD_MEM_REG: {
        if (this.#regions.length >= VHOST_USER_MAX_MEM_SLOTS) {
          throw new Failure(`all ${VHOST_USER_MAX_MEM_SLOTS} memory slots are in use`);
        }
        const region = (p as { region: VhostUserMemoryRegion }).region;
        const m = this.#mapRegion(region, fds.splice(0)[0]);
        await this.#setRegions([...this.#regions, m]);
        return undefined;
      }
      case R.REM_MEM_REG: {
        const region = (p as { region: VhostUserMemoryRegion }).region;
        const keep = this.#regions.filter((r) =>
          !(r.region.guestPhysAddr === region.guestPhysAddr &&
            r.region.memorySize === region.memorySize &&
            r.region.userspaceAddr === region.userspaceAddr)
        );
        if (keep.length === this.#regions.length) {
          throw new Failure(`no region at 0x${region.guestPhysAddr.toString(16)}`);
        }
        await this.#setRegions(keep);
        return undefined;
      }
      case R.SET_VRING_NUM: {
        const s = p as { index: number; num: number };
        const v = this.#vring(s.index);
        const packed = (this.#features & featureBit(VIRTIO_F.RING_PACKED)) !== 0n;
        if (
          s.num === 0 || s.num > MAX_QUEUE_SIZE || (!packed && (s.num & (s.num - 1)) !== 0)
        ) {
          throw new Failure(`queue size ${s.num} is not valid`);
        }
        if (v.started) throw new Failure(`queue ${s.index} is running`);
        v.size = s.num;
        return undefined;
      }
      case R.SET_VRING_ADDR: {
        const a = p as {
          index: number;
          descUserAddr: bigint;
          availUserAddr: bigint;
          usedUserAddr: bigint;
        };
        const v = this.#vring(a.index);
        if (v.started) throw new Failure(`queue ${a.index} is running`);
        v.desc = a.descUserAddr;
        v.avail = a.availUserAddr;
        v.used = a.usedUserAddr;
        v.addrSet = true;
        return undefined;
      }
      case R.SET_VRING_BASE: {
        const s = p as { index: number; num: number };
        const v = this.#vring(s.index);
        if (v.started) throw new Failure(`queue ${s.index} is running`);
        v.base = s.num;
        return undefined;
      }
      case R.GET_VRING_BASE: {
        const s = p as { index: number; num: number };
        const v = this.#vring(s.index);
        const r = await this.#command({ type: "stop", index: s.index });
        const base = r.base ?? v.base;
        v.started = false;
        closeQuietly(v.kick);
        v.kick = -1;
        v.base = base;
        return { kind: "vring_state", index: s.index, num: base };
      }
      case R.SET_VRING_KICK:
      case R.SET_VRING_CALL:
      case R.SET_VRING_ERR:
        return await this.#setVringFd(msg.request, (p as { u64: bigint }).u64, fds);
      case R.SET_VRING_ENABLE: {
        const s = p as { index: number; num: number };
        const v = this.#vring(s.index);
        if (s.num > 1) throw new Failure(`enable value ${s.num} is not 0 or 1`);
        v.enabled = s.num === 1;
        await this.#pushQueue(s.index);
        return undefined;
      }
      case R.SET_STATUS:
        this.#status = Number((p as { u64: bigint }).u64 & 0xffn);
        if (this.#status === 0) this.#needsReset = false;
        return undefined;
      case R.GET_STATUS:
        return {
          kind: "u64",
          u64: BigInt(this.#status | (this.#needsReset ? VIRTIO_STATUS.DEVICE_NEEDS_RESET : 0)),
        };
      default:
        throw new Failure("not supported by this back-end");
    }
  }

  async #setVringFd(request: number, u64: bigint, fds: number[]): Promise<undefined> {
    const index = Number(u64 & VHOST_USER_VRING_IDX_MASK);
    if ((u64 & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) !== 0n) {
      throw new Failure(`reserved bits set in 0x${u64.toString(16)}`);
    }
    const v = this.#vring(index);
    const fd = (u64 & VHOST_USER_VRING_NOFD_MASK) !== 0n ? -1 : fds.splice(0)[0];
    let old: number;
    if (request === FrontendRequest.SET_VRING_KICK) {
      if (fd < 0) throw new Failure("polling without a kick eventfd is not supported");
      if (!v.addrSet || v.size === 0) {
        closeQuietly(fd);
        throw new Failure(`queue ${index} has no size or addresses yet`);
      }
      old = v.kick;
      v.kick = fd;
      v.started = true;
    } else if (request === FrontendRequest.SET_VRING_CALL) {
      old = v.call;
      v.call = fd;
    } else {
      old = v.err;
      v.err = fd;
    }
    try {
      await this.#pushQueue(index);
    } finally {
      // the Worker no longer uses the descriptor it replaced
      closeQuietly(old);
    }
    return undefined;
  }

  async #resetDevice(): Promise<void> {
    const r = await this.#command({ type: "reset", memory: false, session: true });
    for (const v of this.#vrings) this.#closeVringFds(v);
    const enabled = (this.#features & featureBit(30)) === 0n;
    this.#vrings = Array.from({ length: this.#maxQueues }, () => newVring(enabled));
    this.#status = 0;
    this.#needsReset = false;
    if (r.error !== undefined) throw new Failure(r.error);
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      eventfdWrite(this.#wakeFd);
    }
    await this.done;
  }
}

/** Where the back-end's log lines go when its options name no `log`. */
function defaultLog(line: string): void {
  console.error(`ringside serve: ${line}`);
}

/**
 * Starts a vhost-user-fs back-end listening on `socketPath` (a stale socket
 * file there is replaced) that serves `sharedDir` through the engine's
 * passthrough in a queue Worker. Resolves once it is listening and the
 * server is built; rejects when the server cannot be built (a missing
 * directory, say).
 *
 * @example
 * ```ts ignore
 * const backend = await startVhostUserBackend("/tmp/vfs.sock", "/srv/share", {
 *   passthrough: { cache: "auto" },
 * });
 * // qemu ... -chardev socket,id=c,path=/tmp/vfs.sock -device vhost-user-fs-pci,chardev=c,tag=myfs
 * await backend.close();
 * ```
 */
export async function startVhostUserBackend(
  socketPath: string,
  sharedDir: string,
  options: VhostUserBackendOptions = {},
): Promise<VhostUserBackend> {
  const spec: ServerFactorySpec = options.server ?? {
    module: new URL("../../engine/mod.ts", import.meta.url).href,
    factory: "createPassthrough",
    args: [sharedDir, options.passthrough ?? {}],
  };
  const worker = new Worker(new URL("./_worker.ts", import.meta.url), { type: "module" });
  const controlFd = eventfd({ nonblocking: true });
  const ready = await new Promise<FromWorker>((resolve) => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      // what the Worker says while it starts (a warm-up it had to skip)
      if (e.data.type === "log") (options.log ?? defaultLog)(e.data.line);
      if (e.data.type === "ready" || e.data.type === "failed") resolve(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      resolve({ type: "failed", message: e.message });
    };
    worker.postMessage(
      {
        type: "init",
        server: spec,
        control: controlFd,
        record: options.record,
        spinMicroseconds: options.spinMicroseconds,
        readThreads: options.readThreads,
      } satisfies ToWorker,
    );
  });
  if (ready.type === "failed") {
    worker.terminate();
    close(controlFd);
    throw new Error(`cannot start the FUSE server: ${ready.message}`);
  }
  let listenFd: number;
  try {
    listenFd = listenUnix(socketPath, { nonblocking: true });
  } catch (e) {
    worker.terminate();
    close(controlFd);
    throw e;
  }
  return new Backend(socketPath, listenFd, worker, controlFd, options);
}
