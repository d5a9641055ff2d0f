/**
 * The vhost-user queue Worker: owns the FUSE server (engine state is
 * single-threaded) and serves every virtqueue of the device, the hiprio queue
 * and all request queues alike (a front-end may send any request on any
 * queue). It sleeps in a synchronous poll(2) over the kick eventfds and the
 * control eventfd; on a kick it drains the ring, hands each request to the
 * server, writes the reply into the chain's writable buffers, returns the
 * chain as used (length 0 for requests without a reply) and signals the call
 * eventfd when the driver asked for it (EVENT_IDX).
 *
 * Commands from the main thread (see _protocol.ts) are posted and announced
 * on the control eventfd; when it fires the Worker yields to its event loop
 * until it has received as many commands as were announced, then runs them.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import {
  createDeviceQueue,
  type DescChain,
  type DeviceQueue,
  GuestMemory,
} from "../../virtqueue/mod.ts";
import { eventfd, eventfdRead, eventfdWrite } from "../../sys/eventfd.ts";
import { ftruncate, type Mapping, memfdCreate, mmap, munmap } from "../../sys/mmap.ts";
import { Opcode } from "../../codecs/fuse/constants.ts";
import { PollSet, schedYield } from "../../sys/poll.ts";
import { SplitReadIoVecList } from "../../sys/split_read.ts";
import { CHUNK_BYTES } from "../../sys/_split_read_shared.ts";
import { AT_FDCWD, close, O_RDWR, O_TMPFILE, openat, pwritev } from "../../sys/fs.ts";
import { SplitDriverQueue } from "../../virtqueue/split_driver.ts";
import type { FuseServer } from "../../engine/types.ts";
import { instantiateServer, warmUpEngine } from "../server_spec.ts";
import type {
  DeviceRecorder,
  FromWorker,
  RecordedChain,
  RecordedControlMessage,
  ServerFactorySpec,
  ToWorker,
  WorkerQueue,
  WorkerRecording,
  WorkerRegion,
} from "./_protocol.ts";

const EIO = 5;
const FUSE_OUT_HEADER_SIZE = 16;
/** Record flags (codecs/pcapng/record.ts). */
const FLAG_MALFORMED = 0x2;
const FLAG_INDIRECT = 0x4;
const FLAG_PACKED = 0x8;

interface Slot {
  cfg: WorkerQueue;
  dev: DeviceQueue | null;
  /** needs-reset already reported for this `dev`. */
  reported: boolean;
  /** The capture interface of this virtqueue (-1 before its first record). */
  channel: number;
}

/** A recorded device idle this long writes the records it holds. */
const IDLE_FLUSH_MS = 100;

/** The recorder and its open section, when the device is recorded. */
let recording: WorkerRecording | undefined;
let recorder: DeviceRecorder | undefined;
let openRecorderFn:
  | ((path: string, options: Record<string, unknown>) => DeviceRecorder)
  | undefined;
/** Sections written so far: the next front-end's records append a section. */
let sections = 0;
let controlChannel = -1;

/** The recorder of the current section, opened on first use. */
function rec(): DeviceRecorder {
  if (recorder === undefined) {
    const r = recording!;
    // written from this thread (every 256 KiB or 200 ms), with O_DIRECT
    // through native AIO where the file system takes it: each flush is one
    // io_submit that does not wait for the disk, and no page cache is filled
    // (first-touch page-cache writes cost this thread about 2 ns a byte here).
    // Measured on 2 cores: a writer thread beside it (buffered or O_DIRECT)
    // cost GETATTR at queue depth 1 up to 5x instead of 16%, its wake-ups
    // landing on the core this thread polls on, and a nested Worker starts
    // only when this thread's event loop runs (a 0.5 s stall once its ring
    // filled); synchronous O_DIRECT from this thread waits on every flush
    recorder = openRecorderFn!(r.path, {
      ...r.options,
      append: sections > 0,
      writerThread: r.options.writerThread ?? false,
      directIo: r.options.directIo ?? true,
      // a quarter of the writes (and their completions) of 256 KiB ones; the
      // time bound still holds (measured: 4 KiB READ at queue depth 16 recorded
      // 118-131k/s against 105-122k/s)
      flushBytes: r.options.flushBytes ?? 1 << 20,
    });
    sections++;
    controlChannel = recorder.channel("vhost-user", {
      description: "vhost-user control socket",
    });
    for (const s of slots) if (s !== undefined) s.channel = -1;
  }
  return recorder;
}

function queueChannel(slot: Slot): number {
  const r = rec();
  if (slot.channel < 0) {
    const q = slot.cfg.index;
    slot.channel = r.channel(`vq${q}`, {
      description: q === 0 ? "virtio-fs hiprio queue" : `virtio-fs request queue ${q}`,
    });
  }
  return slot.channel;
}

function closeRecorder(): void {
  const r = recorder;
  recorder = undefined;
  if (r === undefined) return;
  try {
    r.close();
  } catch (e) {
    log(`closing the capture failed: ${(e as Error).message}`);
  }
}

function recordControl(messages: RecordedControlMessage[]): void {
  const r = rec();
  for (const m of messages) {
    r.vhostUser(controlChannel, m.bytes, {
      direction: m.direction,
      fdCount: m.fdCount,
      timeNs: m.timeNs,
    });
  }
}

/**
 * The record metadata of a chain, in one object reused for every record (the
 * recorder copies it into the block at once): a few objects fewer per request.
 */
const recordMeta = {
  queue: 0,
  chain: { head: 0, descriptors: 0, readableBytes: 0, writableBytes: 0 } as RecordedChain,
  flags: 0,
  usedLength: undefined as number | undefined,
  atPrevious: false,
};

function chainMeta(slot: Slot, dev: DeviceQueue, chain: DescChain, usedLength?: number) {
  const m = recordMeta;
  m.queue = slot.cfg.index;
  m.chain.head = chain.id;
  m.chain.descriptors = chain.descCount;
  m.chain.readableBytes = chain.readableLength;
  m.chain.writableBytes = chain.writableLength;
  m.flags = chainFlags(dev, chain);
  m.usedLength = usedLength;
  return m;
}

function chainFlags(dev: DeviceQueue, chain: DescChain): number {
  if (dev.layout !== "packed") return 0;
  // a packed chain that took fewer ring slots than it has descriptors went through a table
  return FLAG_PACKED | (chain.ringSlots < chain.descCount ? FLAG_INDIRECT : 0);
}

let server: FuseServer | undefined;
let spec: ServerFactorySpec | undefined;
let control = -1;
let memory = new GuestMemory();
let slots: (Slot | undefined)[] = [];
/** Bumped whenever queues or memory go away: replies of older requests are dropped. */
let generation = 0;
let pending = 0;
let pollSet = new PollSet([]);
let pollSlots: Slot[] = [];
let pollDirty = true;
let chainErrors = 0;

const inbox: ToWorker[] = [];
let announced = 0;
let received = 0;
let wake: (() => void) | null = null;

// A full barrier: a sequentially consistent RMW compiles to a locked
// instruction on x86. Needed between publishing avail_event / used idx and
// re-reading the driver's index (store then load).
const fenceCell = new Int32Array(new SharedArrayBuffer(4));
function fence(): void {
  Atomics.exchange(fenceCell, 0, 0);
}

function post(message: FromWorker): void {
  self.postMessage(message);
}

function log(line: string): void {
  post({ type: "log", line });
}

async function buildServer(): Promise<FuseServer> {
  const made = await instantiateServer(spec!);
  // every synchronous reply is copied into the guest's descriptors before the
  // next request is handled, so the engine may reuse its reply buffers
  made.repliesConsumedAtOnce = true;
  return made;
}

async function closeCurrentServer(): Promise<void> {
  const s = server as (FuseServer & { close?: () => void | Promise<void> }) | undefined;
  server = undefined;
  if (s !== undefined && typeof s.close === "function") await s.close();
}

/** A bare FUSE error reply to `request` (16-byte fuse_out_header), or null when it has no header. */
function errorReply(request: Uint8Array, errno: number): Uint8Array | null {
  if (request.length < 16) return null;
  const out = new Uint8Array(FUSE_OUT_HEADER_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, FUSE_OUT_HEADER_SIZE, true);
  v.setInt32(4, -errno, true);
  const rv = new DataView(request.buffer, request.byteOffset, request.byteLength);
  v.setBigUint64(8, rv.getBigUint64(8, true), true);
  return out;
}

function reportNeedsReset(slot: Slot, reason: string): void {
  if (slot.reported) return;
  slot.reported = true;
  const fault = slot.dev?.needsReset;
  if (recording !== undefined && fault !== undefined) recordChainError(slot, fault);
  post({ type: "needs-reset", index: slot.cfg.index, reason });
  if (slot.cfg.err >= 0) {
    try {
      eventfdWrite(slot.cfg.err);
    } catch (e) {
      log(`queue ${slot.cfg.index}: signalling the error eventfd failed: ${(e as Error).message}`);
    }
  }
}

function build(slot: Slot, base: number): void {
  const c = slot.cfg;
  slot.dev = null;
  slot.reported = false;
  pollDirty = true;
  try {
    slot.dev = createDeviceQueue(c.layout, memory, {
      size: c.size,
      desc: memory.userToGuest(c.desc),
      driver: memory.userToGuest(c.avail),
      device: memory.userToGuest(c.used),
      eventIdx: c.eventIdx,
      indirect: c.indirect,
    }, {
      base,
      onChainError: (e) => {
        // the queue already returned the chain with length 0
        if (chainErrors++ < 20) log(`queue ${c.index}: malformed chain: ${e.message}`);
        if (recording !== undefined) recordChainError(slot, e);
      },
    });
  } catch (e) {
    reportNeedsReset(slot, `ring does not fit guest memory: ${(e as Error).message}`);
  }
}

function recordChainError(slot: Slot, e: { kind: string; head?: number }): void {
  rec().ringChain(queueChannel(slot), {
    queue: slot.cfg.index,
    flags: FLAG_MALFORMED | (slot.cfg.layout === "packed" ? FLAG_PACKED : 0),
    malformation: e.kind,
    usedLength: 0,
  });
}

function signal(slot: Slot, dev: DeviceQueue): void {
  if (callDriver(slot, dev) && recording !== undefined) {
    rec().ringCall(queueChannel(slot), { queue: slot.cfg.index });
  }
}

/** Interrupts the driver when its ring asks for it; true when it did. */
function callDriver(slot: Slot, dev: DeviceQueue): boolean {
  fence();
  if (dev.needsInterrupt() && slot.cfg.call >= 0) {
    eventfdWrite(slot.cfg.call);
    return true;
  }
  return false;
}

/** A call recorded right after the reply and chain it was for: stamped with their time. */
const followingCallMeta = { queue: 0, atPrevious: true };

/**
 * Records a chain returned used (and the call, when the driver was called):
 * with the time of the record just before them, the reply (one clock read
 * fewer each: about 40 ns).
 */
function recordReturn(
  slot: Slot,
  dev: DeviceQueue,
  chain: DescChain,
  used: number,
  called: boolean,
): void {
  const r = rec();
  const ch = queueChannel(slot);
  const m = chainMeta(slot, dev, chain, used);
  m.atPrevious = true;
  r.ringChain(ch, m);
  m.atPrevious = false;
  if (called) {
    followingCallMeta.queue = slot.cfg.index;
    r.ringCall(ch, followingCallMeta);
  }
}

/** Writes the reply into the chain, returns it used and records both when the device is recorded. */
function finish(
  slot: Slot,
  dev: DeviceQueue,
  chain: DescChain,
  request: Uint8Array,
  reply: Uint8Array | null,
): void {
  const sent = reply === null ? null : fitReply(chain, request, reply);
  const used = sent === null ? 0 : chain.write(sent);
  if (recording !== undefined) {
    // the driver is told first: recording stays off the request's critical path
    // (`sent` is a reply buffer the server reuses only on its next request)
    dev.push(chain, used);
    const called = callDriver(slot, dev);
    if (sent !== null) rec().fuseReply(queueChannel(slot), sent, chainMeta(slot, dev, chain));
    recordReturn(slot, dev, chain, used, called);
    return;
  }
  dev.push(chain, used);
}

/** The reply, or an EIO reply when it does not fit the chain (null when not even that fits). */
function fitReply(chain: DescChain, request: Uint8Array, reply: Uint8Array): Uint8Array | null {
  if (reply.length <= chain.writableLength) return reply;
  log(
    `reply of ${reply.length} bytes does not fit the ${chain.writableLength} writable bytes: answering EIO`,
  );
  const e = errorReply(request, EIO);
  return e === null || e.length > chain.writableLength ? null : e;
}

/**
 * Requests spread over several descriptors (a guest's WRITE: headers, then
 * one descriptor per data page) are gathered here instead of into a fresh
 * array: allocating and first touching a MiB costs five times the copy.
 */
let gather = new Uint8Array(64 * 1024);
/** Gathered requests at least this long use {@linkcode gather}. */
const GATHER_MIN = 8 * 1024;

/** The whole readable part of `chain`: a view of guest memory, of {@linkcode gather}, or a copy. */
function requestBytes(chain: DescChain): Uint8Array {
  const n = chain.readableLength;
  if (chain.rCount === 1 || n < GATHER_MIN) return chain.readAll();
  if (gather.length < n) gather = new Uint8Array(Math.max(n, gather.length * 2));
  const view = gather.subarray(0, n);
  chain.readInto(view);
  return view;
}

/**
 * The file data of a READ or WRITE, read or written in place in guest
 * memory; large READs on two threads when init's `readThreads` is 2
 * (made at init).
 */
let vecIov: SplitReadIoVecList;
/** fuse_in_header and fuse_read_in / fuse_write_in of the request {@linkcode serveVectored} serves. */
const vecHead = new Uint8Array(80);
const vecHeadView = new DataView(vecHead.buffer);
/** This process's address of each guest memory region's bytes (a view's first byte). */
const regionAddress = new WeakMap<Uint8Array, number>();

function addressOf(bytes: Uint8Array): number {
  let a = regionAddress.get(bytes);
  if (a === undefined) {
    a = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
    regionAddress.set(bytes, a);
  }
  return a;
}

/** Longest iovec {@linkcode listSegments} makes of adjacent buffers for a WRITE. */
const WRITE_RUN = 0x8000_0000;
/** For a READ: a split read's chunk, so that two threads can still share the read. */
const READ_RUN = CHUNK_BYTES;

/** The segments {@linkcode listSegments} listed last: region index, offset in it, length. */
const listedRegion: number[] = [];
const listedAt: number[] = [];
const listedLength: number[] = [];

/**
 * Lists `count` bytes of a chain's readable or writable stream from stream
 * offset `skip` in {@linkcode vecIov} (and, on a recorded device, in the
 * `listed*` arrays, for {@linkcode listedViews}); false when they are not
 * all there or take more than IOV_MAX buffers. A 1 MiB WRITE is 256
 * segments, mostly in one region: its address is looked up once per run.
 * Segments that follow each other in this process's memory become one
 * iovec of up to `maxRun` bytes: a Linux guest's page-cache WRITE measured
 * here was one run of 256 pages (with cache=never, 256 runs);
 * bench/roundtrip_bench.ts, six interleaved pairs: pwritev 461 -> 448 us
 * p50, wake-up to pwritev 66 -> 62 us.
 */
function listSegments(
  regions: Uint8Array[],
  offsets: number[],
  lengths: number[],
  segments: number,
  skip: number,
  count: number,
  maxRun: number,
): boolean {
  vecIov.clear();
  const listing = recording !== undefined;
  if (listing) listedRegion.length = listedAt.length = listedLength.length = 0;
  let region: Uint8Array | undefined;
  let base = 0;
  for (let i = 0; i < segments && count > 0; i++) {
    const len = lengths[i];
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const take = Math.min(len - skip, count);
    const at = offsets[i] + skip;
    if (regions[i] !== region) {
      region = regions[i];
      base = addressOf(region);
    }
    if (!vecIov.addAdjacent(base + at, take, maxRun)) return false;
    if (listing) {
      listedRegion.push(i);
      listedAt.push(at);
      listedLength.push(take);
    }
    count -= take;
    skip = 0;
  }
  return count === 0;
}

/**
 * Views of the first `count` bytes {@linkcode listSegments} listed last in
 * `regions` (the guest buffers a vectored request's data is in), for the
 * recorder to copy.
 */
function listedViews(regions: Uint8Array[], count: number): Uint8Array[] {
  const views: Uint8Array[] = [];
  for (let k = 0; k < listedRegion.length && count > 0; k++) {
    const take = Math.min(listedLength[k], count);
    const at = listedAt[k];
    views.push(regions[listedRegion[k]].subarray(at, at + take));
    count -= take;
  }
  return views;
}

/** {@linkcode serveVectored}: the chain was served. */
const SERVED = 1;
/** {@linkcode serveVectored}: not served, and its request is not recorded yet. */
const NOT_SERVED = 0;
/** {@linkcode serveVectored}: not served, but its request is already recorded. */
const NOT_SERVED_RECORDED = 2;

/**
 * Serves a READ or WRITE without copying its data: the server's
 * `handleVectored` preads into or pwrites from the chain's guest buffers.
 * On a recorded device the records copy the data from guest memory: a
 * WRITE's request before the server sees it, a READ's reply before the
 * chain goes back to the driver (which may reuse its buffers at once).
 * NOT_SERVED when the request takes the copying path (another opcode, a
 * server without the method or refusing this one).
 */
function serveVectored(slot: Slot, dev: DeviceQueue, chain: DescChain): number {
  const s = server!;
  if (s.handleVectored === undefined) return NOT_SERVED;
  if (chain.readableLength < vecHead.length) return NOT_SERVED;
  chain.readInto(vecHead);
  // fuse_in_header.opcode
  const opcode = vecHeadView.getUint32(4, true);
  if (opcode !== Opcode.READ && opcode !== Opcode.WRITE) return NOT_SERVED;
  if (opcode === Opcode.WRITE) {
    const size = chain.readableLength - vecHead.length;
    if (
      !listSegments(
        chain.rBytes,
        chain.rOff,
        chain.rLen,
        chain.rCount,
        vecHead.length,
        size,
        WRITE_RUN,
      )
    ) {
      return NOT_SERVED;
    }
    if (recording !== undefined) {
      const data = listedViews(chain.rBytes, size);
      rec().fuseRequestParts(queueChannel(slot), vecHead, data, chainMeta(slot, dev, chain));
    }
    const reply = s.handleVectored(vecHead, vecIov);
    if (reply === null) return recording !== undefined ? NOT_SERVED_RECORDED : NOT_SERVED;
    finish(slot, dev, chain, vecHead, reply);
    return SERVED;
  }
  // READ: the data lands after the 16-byte fuse_out_header, at most fuse_read_in.size
  const room = chain.writableLength - FUSE_OUT_HEADER_SIZE;
  if (room < 0) return NOT_SERVED;
  const want = Math.min(vecHeadView.getUint32(56, true), room);
  if (
    !listSegments(
      chain.wBytes,
      chain.wOff,
      chain.wLen,
      chain.wCount,
      FUSE_OUT_HEADER_SIZE,
      want,
      READ_RUN,
    )
  ) {
    return NOT_SERVED;
  }
  const recorded = recording !== undefined;
  if (recorded) rec().fuseRequest(queueChannel(slot), vecHead, chainMeta(slot, dev, chain));
  const header = s.handleVectored(vecHead, vecIov);
  if (header === null) return recorded ? NOT_SERVED_RECORDED : NOT_SERVED;
  chain.write(header);
  // the header's len counts the data read in place
  const used = new DataView(header.buffer, header.byteOffset).getUint32(0, true);
  if (recorded) {
    const ch = queueChannel(slot);
    const data = listedViews(chain.wBytes, used - header.length);
    rec().fuseReplyParts(ch, header, data, chainMeta(slot, dev, chain));
    dev.push(chain, used);
    recordReturn(slot, dev, chain, used, callDriver(slot, dev));
    return SERVED;
  }
  dev.push(chain, used);
  return SERVED;
}

function serveChain(slot: Slot, dev: DeviceQueue, chain: DescChain): void {
  const vectored = serveVectored(slot, dev, chain);
  if (vectored === SERVED) return;
  let request = requestBytes(chain);
  if (recording !== undefined && vectored !== NOT_SERVED_RECORDED) {
    rec().fuseRequest(queueChannel(slot), request, chainMeta(slot, dev, chain));
  }
  let out: Uint8Array | null | Promise<Uint8Array | null>;
  try {
    out = server!.handle(request);
  } catch (e) {
    log(`server failed: ${(e as Error).message}`);
    out = errorReply(request, EIO);
  }
  if (!(out instanceof Promise)) {
    finish(slot, dev, chain, request, out);
    return;
  }
  // the request bytes may be a view into guest memory: keep the chain until the answer comes;
  // gathered ones are copied out of the buffer the next request reuses
  if (request.buffer === gather.buffer) request = request.slice();
  const gen = generation;
  pending++;
  out.then(
    (r) => r,
    (e) => {
      log(`server failed: ${(e as Error).message}`);
      return errorReply(request, EIO);
    },
  ).then((r) => {
    pending--;
    if (gen !== generation || slot.dev !== dev) return; // the ring went away meanwhile
    finish(slot, dev, chain, request, r);
    signal(slot, dev);
  });
}

function processQueue(slot: Slot): void {
  const dev = slot.dev;
  if (dev === null) return;
  for (;;) {
    dev.disableKicks();
    for (let c = dev.pop(); c !== null; c = dev.pop()) serveChain(slot, dev, c);
    if (dev.enableKicks()) continue;
    fence();
    if (!dev.hasAvailable()) break;
  }
  endBurst(slot, dev);
}

/** After a burst of chains: the call the driver asked for, and a ring fault reported. */
function endBurst(slot: Slot, dev: DeviceQueue): void {
  signal(slot, dev);
  if (dev.needsReset !== undefined) reportNeedsReset(slot, dev.needsReset.message);
}

function rebuildPollSet(): void {
  const fds = [control];
  pollSlots = [];
  for (const s of slots) {
    if (s === undefined || s.dev === null || !s.cfg.enabled || s.cfg.kick < 0) continue;
    if (s.dev.needsReset !== undefined) continue;
    fds.push(s.cfg.kick);
    pollSlots.push(s);
  }
  pollSet = new PollSet(fds);
  pollDirty = false;
}

function runnable(slot: Slot): boolean {
  return slot.dev !== null && slot.cfg.enabled;
}

/**
 * Guest memory over regions this process has mapped (the "memory" command's
 * and the warm-up's); `error` names the last region left out.
 */
function guestMemory(regions: WorkerRegion[]): { next: GuestMemory; error?: string } {
  const next = new GuestMemory();
  let error: string | undefined;
  for (const r of regions) {
    const p = Deno.UnsafePointer.create(r.address);
    if (p === null) {
      error = "null region address";
      continue;
    }
    const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, r.size));
    try {
      next.addRegion({ guestAddr: r.guestAddr, size: r.size, userAddr: r.userAddr, bytes });
    } catch (e) {
      error = (e as Error).message;
    }
  }
  return { next, error };
}

/** Runs one command; returns false when the Worker must exit. */
async function runCommand(m: ToWorker): Promise<boolean> {
  switch (m.type) {
    case "memory": {
      const { next, error } = guestMemory(m.regions);
      memory = next;
      generation++;
      // rings follow the new table, continuing where they were
      for (const s of slots) {
        if (s === undefined || !s.cfg.started) continue;
        const base = s.dev !== null ? s.dev.getBase() : s.cfg.base;
        build(s, base);
      }
      post({ type: "done", id: m.id, error });
      for (const s of slots) if (s !== undefined && runnable(s)) processQueue(s);
      return true;
    }
    case "queue": {
      const old = slots[m.queue.index];
      const slot: Slot = old ?? { cfg: m.queue, dev: null, reported: false, channel: -1 };
      slot.cfg = m.queue;
      slots[m.queue.index] = slot;
      pollDirty = true;
      if (!slot.cfg.started) slot.dev = null;
      else if (slot.dev === null) build(slot, slot.cfg.base);
      post({ type: "done", id: m.id });
      if (runnable(slot)) processQueue(slot);
      return true;
    }
    case "stop": {
      const slot = slots[m.index];
      let base = 0;
      if (slot !== undefined) {
        base = slot.dev !== null ? slot.dev.getBase() : slot.cfg.base;
        slot.dev = null;
        slot.cfg = { ...slot.cfg, started: false, kick: -1 };
      }
      generation++;
      pollDirty = true;
      post({ type: "done", id: m.id, base });
      return true;
    }
    case "reset": {
      slots = [];
      generation++;
      pollDirty = true;
      if (m.memory) memory = new GuestMemory();
      let error: string | undefined;
      if (m.session) {
        try {
          await closeCurrentServer();
          server = await buildServer();
        } catch (e) {
          error = (e as Error).message;
        }
      }
      if (m.endSection) closeRecorder();
      post({ type: "done", id: m.id, error });
      return true;
    }
    case "record":
      if (recording !== undefined) recordControl(m.messages);
      return true;
    case "exit":
      slots = [];
      memory = new GuestMemory();
      generation++;
      await closeCurrentServer().catch(() => {});
      closeRecorder();
      post({ type: "done", id: m.id });
      return false;
    case "init":
      return true;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Adaptive ring polling, after QEMU's adaptive AioContext polling: once a
 * burst is served the Worker keeps watching the available rings themselves
 * (no system call, and with notifications off the driver does not kick) for
 * a window before it sleeps in poll(2). A thread woken from poll(2) on this
 * kind of VM takes tens of us to run again, while a driver at queue depth 1
 * publishes its next request a few us after it sees the reply.
 *
 * The window follows the gaps polling sees: a request caught `t` after the
 * last one widens it to at least four times `t`, a window that expires
 * halves it (it stays between {@linkcode POLL_FLOOR_MS} and `pollMaxMs`,
 * init's `spinMicroseconds`, default {@linkcode DEFAULT_POLL_US}; 0 turns
 * polling off). A sleep cannot
 * measure the gap (waking here takes longer than the largest window), and a
 * driver that itself sleeps until it is signalled comes back only after its
 * own wake-up: both sides then wait on each other. So after every
 * {@linkcode POLL_PROBE_EVERY} expired windows, while sleeps stay short, one
 * window of {@linkcode POLL_PROBE_FACTOR} times the largest probes for such a
 * driver; one request caught puts both sides back on the fast path. A driver
 * that comes back within the window is served without a kick or a wake-up.
 *
 * Polling also has to pay for itself: after every {@linkcode POLL_REVIEW_EVERY}
 * requests caught or windows expired, when it spent more than
 * {@linkcode POLL_BUDGET_WINDOWS} longest windows of spinning per request
 * caught (a driver that mostly comes back too late), polling pauses for
 * {@linkcode POLL_PAUSE_BURSTS} bursts.
 *
 * The spin steps aside ({@linkcode schedYield}) every few rounds: on a small
 * host the threads that bring the driver's next request (QEMU's main loop
 * delivering the call, its vCPU thread) may be waiting for this very core,
 * and a spin that kept it delayed them by every us it spun (measured in a TCG
 * guest here, before the yield: polling cost the stat row 0.66x against 0.91x
 * without it). With the yield, polling serves such a guest's stat loop
 * 1.2-1.6x faster than sleeping (its vCPU neither exits to kick nor waits
 * for this thread to be woken), which is why the window defaults to a TCG
 * guest's turn-around.
 *
 * That turn-around is not fixed. On a 2-CPU PVM host (in one guest, each
 * round against the same rounds of the others, bench/guest_ab_bench.ts) it
 * was about 100-150 us on some days, when 256 and 32 and 0 each won on a
 * different day by margins of 1.0-1.3x (and 256 beat 0 by up to 1.8x);
 * on a slower day it was several hundred us, a 256 us window caught little
 * and a 1000 us one beat it on every metadata row (six rounds: create
 * 1.25x and 1.70x, stat 1.95x and 1.57x, readdir 1.23x and 1.53x, unlink
 * 1.27x and 1.40x at cache=auto and never), with 2000 level with 1000. So
 * the window may grow to 1000 us by default; it still adapts to what it
 * catches, and the budget above bounds what a driver that comes back too
 * late costs. On a later, faster day the same guest gave the opposite:
 * `--poll-us 0` stood level with the default or ahead of it (0.84-1.17x on
 * the metadata rows, six rounds) at a quarter of its CPU, and ringside's own
 * time per request there (GETATTR 5.5 us p50, LOOKUP 9.4, CREATE 22) was a
 * few percent of a guest's round trip: what polling buys is the host's
 * wake-up cost on the day. A driver that comes back within microseconds is
 * caught by any window (without polling the guest-free
 * bench/vhost_user_bench.ts fell to 0.80x virtiofsd on GETATTR at depth 1).
 */
let pollMaxMs = 0;
let pollWindowMs = 0;
const POLL_FLOOR_MS = 0.004;
const POLL_PROBE_EVERY = 16;
const POLL_PROBE_FACTOR = 4;
let pollMisses = 0;
/** Requests caught plus windows expired between reviews of what polling costs. */
const POLL_REVIEW_EVERY = 64;
/** Most spinning per caught request that polling may cost, in longest windows. */
const POLL_BUDGET_WINDOWS = 2;
/** Bursts that sleep at once after a review found polling too dear. */
const POLL_PAUSE_BURSTS = 512;
let pollWindows = 0;
let pollSpentMs = 0;
let pollCaught = 0;
let pollPaused = 0;
/** How long the last sleep in poll(2) lasted, ms. */
let lastSleepMs = Infinity;
/**
 * The default longest window in us: long enough to catch a TCG guest's next
 * request on a slow day (QEMU's iothreads default to 32 us, tuned for KVM
 * guests; see above for what was measured here).
 */
const DEFAULT_POLL_US = 1000;

/** Looks at the available rings this often (in rounds) between poll(2) checks of the fds. */
const FD_CHECK_ROUNDS = 16;

/** Serves whatever the rings hold, notifications left off; true when there was any. */
function serveRings(): boolean {
  let any = false;
  for (let i = 0; i < pollSlots.length; i++) {
    const slot = pollSlots[i];
    const dev = slot.dev;
    if (dev === null || !dev.hasAvailable()) continue;
    any = true;
    for (let c = dev.pop(); c !== null; c = dev.pop()) serveChain(slot, dev, c);
    endBurst(slot, dev);
  }
  return any;
}

/**
 * Polls the rings for the current window (restarted by each request it
 * serves) or until an fd is ready, adapting the window; turns notifications
 * back on before it returns (draining what arrived meanwhile).
 */
function pollRings(): void {
  for (const s of pollSlots) s.dev?.disableKicks();
  let idleFrom = performance.now();
  let now = idleFrom;
  const probe = pollMisses % POLL_PROBE_EVERY === POLL_PROBE_EVERY - 1 &&
    lastSleepMs < POLL_PROBE_FACTOR * pollMaxMs;
  let window = probe ? POLL_PROBE_FACTOR * pollMaxMs : pollWindowMs;
  for (let round = 1;; round++) {
    if (serveRings()) {
      // (`now` is at most a few rounds old: the spin before this request)
      pollSpentMs += now - idleFrom;
      pollCaught++;
      const at = performance.now();
      pollWindowMs = window = Math.min(pollMaxMs, Math.max(pollWindowMs, 4 * (at - idleFrom)));
      pollMisses = 0;
      idleFrom = now = at;
      if (pollTooDear()) break;
    }
    // busy or not, the fds are looked at every few rounds: commands from the
    // main thread and answers that wait for the event loop are not starved
    if (round % FD_CHECK_ROUNDS !== 0) continue;
    schedYield(); // whoever waits for this core (see above) runs first
    if (pending > 0) break;
    if (pollSet.wait(0) > 0) {
      if (pollSet.ready(0)) break; // a command from the main thread
      // a kick sent before notifications went off: drained here, its request served above
      for (let i = 1; i < pollSlots.length + 1; i++) {
        if (pollSet.ready(i)) noteKick(pollSlots[i - 1]);
      }
    }
    now = performance.now();
    if (now - idleFrom >= window) {
      pollMisses++;
      pollWindowMs = Math.max(Math.min(POLL_FLOOR_MS, pollMaxMs), pollWindowMs / 2);
      pollSpentMs += now - idleFrom;
      pollWindows++;
      pollTooDear();
      break;
    }
  }
  for (const s of pollSlots) processQueue(s);
}

/**
 * After {@linkcode POLL_REVIEW_EVERY} requests caught or windows expired:
 * pauses polling when it spun more than {@linkcode POLL_BUDGET_WINDOWS} longest windows per
 * request caught (true then).
 */
function pollTooDear(): boolean {
  if (pollCaught + pollWindows < POLL_REVIEW_EVERY) return false;
  const dear = pollSpentMs > POLL_BUDGET_WINDOWS * pollMaxMs * Math.max(1, pollCaught);
  pollWindows = pollCaught = pollSpentMs = 0;
  if (dear) pollPaused = POLL_PAUSE_BURSTS;
  return dear;
}

/** Reads the kick eventfd of `slot` (recording the kick when the device is recorded). */
function noteKick(slot: Slot): void {
  const count = eventfdRead(slot.cfg.kick);
  if (recording !== undefined) {
    rec().ringKick(queueChannel(slot), { queue: slot.cfg.index, count });
  }
}

/**
 * A kick arrived on `slot`: serves the queue, then reads the kick. Reading
 * it first put a system call between the wake-up and the request. Nothing
 * is lost by reading it afterwards: the queue is looked at
 * again once it is read, so a request published before the read is served
 * now, and one published after it kicks anew (notifications are on by
 * then). A recorded device reads it first, so the capture shows the kick
 * before the requests it announced.
 */
function kicked(slot: Slot): void {
  if (recording !== undefined) {
    noteKick(slot);
    processQueue(slot);
    return;
  }
  processQueue(slot);
  eventfdRead(slot.cfg.kick);
  if (slot.dev?.hasAvailable()) processQueue(slot);
}

async function serveLoop(): Promise<void> {
  for (;;) {
    if (pollDirty) rebuildPollSet();
    let n = 0;
    const polls = pollMaxMs > 0 && pollSlots.length > 0;
    if (pending > 0) {
      n = pollSet.wait(0);
      if (n === 0) n = pollSet.wait(1);
    } else if (polls && pollPaused > 0) {
      pollPaused--; // not polling: straight to the sleep below (each system call costs here)
    } else if (polls) {
      n = pollSet.wait(0);
      if (n === 0) {
        pollRings();
        n = pollSet.wait(0);
      }
    }
    if (pending === 0 && n === 0) {
      const from = pollMaxMs > 0 ? performance.now() : 0;
      // a recorder holding records: their time bound holds while idle too
      // (its own timer needs the event loop, which this loop leaves only
      // for commands)
      const held = recorder !== undefined && recorder.bufferedBytes > 0;
      n = pollSet.wait(held ? IDLE_FLUSH_MS : -1);
      if (n === 0 && held) recorder!.flush();
      if (pollMaxMs > 0) lastSleepMs = performance.now() - from;
    }
    if (n > 0) {
      for (let i = 1; i < pollSlots.length + 1; i++) {
        if (!pollSet.ready(i)) continue;
        kicked(pollSlots[i - 1]);
      }
      if (pollSet.ready(0)) {
        announced += Number(eventfdRead(control));
        while (received < announced) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
        while (inbox.length > 0) {
          if (!await runCommand(inbox.shift()!)) return;
        }
      }
    }
    if (pending > 0) await yieldToEventLoop();
  }
}

/**
 * JIT warm-up of this thread's ring path, beside the engine's (warmUpEngine,
 * which is handed this thread's I/O list): a private split ring with
 * EVENT_IDX and indirect descriptors in private memory laid out like a
 * guest's, filled by the driver-side queue the way a Linux guest fills it
 * (1 MiB WRITEs and READs in 4 KiB pages behind an indirect table, and small
 * requests), kicked, served by processQueue and called through eventfds,
 * with a stand-in server that writes and reads an unnamed temporary file
 * through the same in-place I/O list. Without it a daemon's first large
 * requests walk their 258 descriptors in the interpreter. With a warm-up
 * whose objects differed from a guest's (one small region, no EVENT_IDX, a
 * plain I/O list in the engine's), V8 threw the compiled code away at the
 * first guest requests (--trace-deopt: pop, addBuffer, listSegments,
 * handleVectored, writev), and bench/roundtrip_bench.ts measured 80-96 us
 * p50 from wake-up to pwritev per 1 MiB WRITE; matched, 48-63 us.
 * Runs before recording and the real server are set up, and leaves both
 * untouched.
 */
function warmUpRing(rounds = 30): void {
  const PAGE = 4096, MIB = 1 << 20, QSIZE = 1024;
  // guest memory and queue as the "memory" and "queue" commands make them: the
  // compiled code is specialised for the shapes (and number representations)
  // it meets, and another arriving with the first guest sends it back to the
  // interpreter. So two regions, like a PC guest's below and above a hole,
  // one low and small, one at 4 GiB and 2 GiB long (sparse: a few MiB of it
  // are touched), whose addresses, sizes and offsets are beyond small integers
  const LOW = MIB, HIGH = 2 * 1024 * MIB, HIGH_AT = 0x1_0000_0000n;
  const memfd = memfdCreate("ringside-warm-up");
  const mappings: Mapping[] = [];
  const kick = eventfd(), call = eventfd();
  const fd = openat(AT_FDCWD, "/tmp", { flags: O_TMPFILE | O_RDWR, mode: 0o600 });
  const savedServer = server, savedMemory = memory;
  try {
    ftruncate(memfd, LOW + HIGH);
    const regions: WorkerRegion[] = [
      { guestAddr: 0n, size: LOW, userAddr: 0x7f00_0000_0000n, address: 0n },
      { guestAddr: HIGH_AT, size: HIGH, userAddr: 0x7f10_0000_0000n, address: 0n },
    ];
    // the memfd holds the low region, then the high one
    let offset = 0;
    for (const r of regions) {
      const m = mmap(memfd, r.size, { offset });
      mappings.push(m);
      r.address = BigInt(Deno.UnsafePointer.value(m.pointer));
      offset += r.size;
    }
    const { next: mem, error } = guestMemory(regions);
    if (error !== undefined) throw new Error(error);
    const userAddr = regions[0].userAddr;
    // the rings low, the driver's buffers (indirect tables, pages) 1 GiB into the high region
    const rings = { desc: 0n, avail: 0x4000n, used: 0x5000n };
    const driver = new SplitDriverQueue(mem, {
      size: QSIZE,
      desc: rings.desc,
      driver: rings.avail,
      device: rings.used,
      indirect: true,
      eventIdx: true,
    }, { buffers: { addr: HIGH_AT + 0x4000_0000n, size: 8 * MIB } });
    const cfg: WorkerQueue = {
      index: 1,
      layout: "split",
      size: QSIZE,
      desc: userAddr + rings.desc,
      avail: userAddr + rings.avail,
      used: userAddr + rings.used,
      base: 0,
      kick,
      call,
      err: -1,
      enabled: true,
      started: true,
      eventIdx: true,
      indirect: true,
    };
    const slot: Slot = { cfg, dev: null, reported: false, channel: -1 };
    memory = mem;
    build(slot, 0);
    if (slot.dev === null) throw new Error("warm-up ring did not build");
    const reply = new Uint8Array(24);
    const replyView = new DataView(reply.buffer);
    server = {
      handle: (request) => {
        replyView.setUint32(0, 16, true);
        replyView.setBigUint64(
          8,
          new DataView(request.buffer, request.byteOffset).getBigUint64(8, true),
          true,
        );
        return reply.subarray(0, 16);
      },
      handleVectored: (head, iov) => {
        const write =
          new DataView(head.buffer, head.byteOffset).getUint32(4, true) === Opcode.WRITE;
        const n = write ? pwritev(fd, iov.bytes, iov.count, 0n) : iov.readAt(fd, 0n);
        if (n < 0) throw new Error(`warm-up I/O failed: errno ${-n}`);
        replyView.setUint32(0, write ? 24 : 16 + n, true);
        replyView.setUint32(16, n, true);
        return write ? reply : reply.subarray(0, 16);
      },
    };
    const request = (opcode: number, len: number, size: number) => {
      // fuse_in_header (len, opcode, unique, nodeid, ...), then fuse_read_in/fuse_write_in
      const h = new Uint8Array(80);
      const v = new DataView(h.buffer);
      v.setUint32(0, len, true);
      v.setUint32(4, opcode, true);
      v.setBigUint64(8, 1n, true);
      v.setUint32(56, size, true);
      return h;
    };
    const pages = Array.from({ length: MIB / PAGE }, () => new Uint8Array(PAGE).fill(0x5a));
    const asks: [Uint8Array[], number[]][] = [
      [[request(Opcode.WRITE, 80 + MIB, MIB), ...pages], [24]],
      [[request(Opcode.READ, 80, MIB)], [16, ...pages.map(() => PAGE)]],
      [[request(Opcode.GETATTR, 56, 0).subarray(0, 56)], [120]],
    ];
    for (let i = 0; i < rounds; i++) {
      for (const [readable, writable] of asks) {
        if (driver.add(readable, writable) === null) throw new Error("warm-up ring is full");
        // kicked, woken, served and called the way a guest's request is
        eventfdWrite(kick);
        kicked(slot);
        if (driver.takeUsed().length !== 1) throw new Error("warm-up request not answered");
        eventfdRead(call);
      }
    }
  } finally {
    server = savedServer;
    memory = savedMemory;
    pollDirty = true;
    for (const m of mappings) munmap(m);
    close(fd);
    close(memfd);
    close(kick);
    close(call);
  }
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  if (m.type !== "init") {
    inbox.push(m);
    received++;
    wake?.();
    return;
  }
  spec = m.server;
  control = m.control;
  const pollUs = m.spinMicroseconds ?? DEFAULT_POLL_US;
  if (pollUs > 0) pollMaxMs = pollWindowMs = pollUs / 1000;
  vecIov = new SplitReadIoVecList({
    helper: (m.readThreads ?? 1) > 1,
  });
  try {
    try {
      warmUpRing();
    } catch (e) {
      log(`ring warm-up skipped: ${(e as Error).message}`);
    }
    if (m.record !== undefined) {
      const mod = await import(m.record.module) as Record<string, unknown>;
      if (typeof mod.openRecorder !== "function") {
        throw new Error(`${m.record.module} does not export openRecorder`);
      }
      openRecorderFn = mod.openRecorder as typeof openRecorderFn;
      // its FFI clock loads asynchronously
      if (typeof mod.recorderReady === "function") await mod.recorderReady();
      recording = m.record;
      rec(); // the file exists (with its section header) from the start
    }
    server = await buildServer();
    // the engine's paths compiled before the first guest request
    const skipped = await warmUpEngine(spec, vecIov);
    if (skipped !== undefined) log(`engine warm-up skipped: ${skipped}`);
  } catch (e) {
    vecIov.close();
    post({ type: "failed", message: (e as Error).message });
    return;
  }
  post({ type: "ready" });
  try {
    await serveLoop();
  } catch (e) {
    post({ type: "failed", message: `queue worker failed: ${(e as Error).stack}` });
  }
  vecIov.close();
  self.close();
};
