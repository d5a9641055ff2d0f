/**
 * Fuzz target for the vhost-user codec: random well-formed messages of every
 * request and reply must survive encode → decode unchanged, and mutated,
 * truncated or random bytes must decode or fail with a CodecError, never
 * anything else, never past the input.
 *
 * @module
 */
import { CodecError } from "../errors.ts";
import { type FuzzTarget, prng } from "../../testing/fuzz.ts";
import {
  BackendRequest,
  decodeMessage,
  encodeMessage,
  expectedFdCount,
  FrontendRequest,
  messageBytesNeeded,
  payloadKindOf,
  VHOST_MEMORY_BASELINE_NREGIONS,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_SHMEM_REGIONS,
  VHOST_USER_NEED_REPLY_MASK,
  VHOST_USER_REPLY_MASK,
  VHOST_USER_VERSION,
  type VhostUserChannel,
  type VhostUserMemoryRegion,
  type VhostUserMessage,
  type VhostUserPayload,
  type VhostUserPayloadKind,
} from "./vhost_user.ts";

/** A random source: uniform in [0, 1). */
export type Random = () => number;

function int(rand: Random, below: number): number {
  return Math.floor(rand() * below);
}

function u32(rand: Random): number {
  return int(rand, 0x100000000);
}

let u64Bits = 64n;

function u64(rand: Random): bigint {
  // favour edge values now and then
  const pick = int(rand, 8);
  if (pick === 0) return 0n;
  if (pick === 1) return BigInt.asUintN(Number(u64Bits), 0xffffffffffffffffn);
  return BigInt.asUintN(Number(u64Bits), (BigInt(u32(rand)) << 32n) | BigInt(u32(rand)));
}

function bytes(rand: Random, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = int(rand, 256);
  return b;
}

function region(rand: Random, xen: boolean): VhostUserMemoryRegion {
  const r: VhostUserMemoryRegion = {
    guestPhysAddr: u64(rand),
    memorySize: u64(rand),
    userspaceAddr: u64(rand),
    mmapOffset: u64(rand),
  };
  if (xen) {
    r.xenMmapFlags = u32(rand);
    r.domid = u32(rand);
  }
  return r;
}

/** A random payload of layout `kind` (`log_base` picks u64 or log). */
export function randomPayload(
  rand: Random,
  kind: VhostUserPayloadKind | "log_base",
  xen = false,
): VhostUserPayload {
  switch (kind) {
    case "log_base":
      return randomPayload(rand, rand() < 0.5 ? "u64" : "log", xen);
    case "none":
      return { kind };
    case "u64":
      return { kind, u64: u64(rand) };
    case "vring_state":
      return { kind, index: u32(rand), num: u32(rand) };
    case "vring_addr":
      return {
        kind,
        index: u32(rand),
        flags: u32(rand),
        descUserAddr: u64(rand),
        usedUserAddr: u64(rand),
        availUserAddr: u64(rand),
        logGuestAddr: u64(rand),
      };
    case "memory": {
      const n = int(rand, VHOST_MEMORY_BASELINE_NREGIONS + 1);
      return { kind, regions: Array.from({ length: n }, () => region(rand, xen)) };
    }
    case "mem_reg":
      return { kind, region: region(rand, xen) };
    case "log":
      return { kind, mmapSize: u64(rand), mmapOffset: u64(rand) };
    case "iotlb":
      return {
        kind,
        iova: u64(rand),
        size: u64(rand),
        uaddr: u64(rand),
        perm: int(rand, 256),
        type: int(rand, 256),
      };
    case "config":
      return { kind, offset: u32(rand), flags: u32(rand), region: bytes(rand, int(rand, 257)) };
    case "vring_area":
      return { kind, u64: u64(rand), size: u64(rand), offset: u64(rand) };
    case "inflight":
      return {
        kind,
        mmapSize: u64(rand),
        mmapOffset: u64(rand),
        numQueues: int(rand, 0x10000),
        queueSize: int(rand, 0x10000),
      };
    case "shared_object":
      return { kind, uuid: bytes(rand, 16) };
    case "device_state":
      return { kind, direction: u32(rand), phase: u32(rand) };
    case "mmap":
      return {
        kind,
        shmid: int(rand, 256),
        fdOffset: u64(rand),
        shmOffset: u64(rand),
        len: u64(rand),
        flags: u64(rand),
      };
    case "shmem_config": {
      const memorySizes = Array.from(
        { length: VHOST_USER_MAX_SHMEM_REGIONS },
        () => rand() < 0.9 ? 0n : u64(rand),
      );
      return { kind, nregions: int(rand, VHOST_USER_MAX_SHMEM_REGIONS + 1), memorySizes };
    }
    case "bytes": {
      // never exactly 8 bytes for a reply body that is not u64: that is an ack
      return { kind, bytes: bytes(rand, int(rand, 600)) };
    }
  }
}

const FRONTEND_CODES = Object.values(FrontendRequest) as number[];
const BACKEND_CODES = Object.values(BackendRequest) as number[];

/** Options of {@linkcode randomMessage}. */
export interface RandomMessageOptions {
  /** The channel (default "frontend"). */
  channel?: VhostUserChannel;
  /** Force a request code. */
  request?: number;
  /** Force a reply (true) or a request (false). */
  reply?: boolean;
  /** XEN_MMAP region layout. */
  xenMmap?: boolean;
  /** Keep every u64 below 2^53 (for comparisons with parsers that read u64 as a number). */
  safeU64?: boolean;
}

/** A random well-formed message of the given channel. */
export function randomMessage(rand: Random, options: RandomMessageOptions = {}): VhostUserMessage {
  u64Bits = options.safeU64 ? 53n : 64n;
  try {
    return randomMessageInner(rand, options);
  } finally {
    u64Bits = 64n;
  }
}

function randomMessageInner(rand: Random, options: RandomMessageOptions): VhostUserMessage {
  const channel = options.channel ?? "frontend";
  const codes = channel === "backend" ? BACKEND_CODES : FRONTEND_CODES;
  const request = options.request ?? codes[int(rand, codes.length)];
  const reply = options.reply ?? rand() < 0.3;
  let flags = VHOST_USER_VERSION;
  if (reply) flags |= VHOST_USER_REPLY_MASK;
  else if (rand() < 0.3) flags |= VHOST_USER_NEED_REPLY_MASK;
  let kind = payloadKindOf(request, { channel, reply });
  // a reply that could be the ack must be of a size that decodes back to itself
  let payload = randomPayload(rand, kind, options.xenMmap);
  if (reply && kind === "bytes" && payload.kind === "bytes" && payload.bytes.length === 0) {
    kind = "none";
    payload = { kind: "none" };
  }
  if (reply && payload.kind === "memory" && payload.regions.length === 0) {
    payload = { kind: "memory", regions: [region(rand, !!options.xenMmap)] };
  }
  return { request, flags, payload };
}

function sameMessage(a: VhostUserMessage, b: VhostUserMessage): boolean {
  return JSON.stringify(a, replacer) === JSON.stringify(b, replacer);
}

function replacer(_k: string, v: unknown): unknown {
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Uint8Array) return Array.from(v);
  return v;
}

function runOne(rand: Random, i: number, seed: number) {
  const channel: VhostUserChannel = rand() < 0.75 ? "frontend" : "backend";
  const xenMmap = rand() < 0.1;
  const opts = { channel, xenMmap };
  const msg = randomMessage(rand, opts);
  const wire = encodeMessage(msg, opts);
  const fail = (what: string) => {
    throw new Error(`vhost_user fuzz seed ${seed} case ${i}: ${what}`);
  };
  if (messageBytesNeeded(wire.subarray(0, int(rand, VHOST_USER_HEADER_SIZE))) !== 12) {
    fail("partial header");
  }
  if (messageBytesNeeded(wire) !== wire.length) fail("messageBytesNeeded disagrees with encoder");
  const want = expectedFdCount(msg, opts);
  const back = decodeMessage(wire, { ...opts, fdCount: want.min });
  if (!sameMessage(back, msg)) fail(`round trip changed ${JSON.stringify(msg, replacer)}`);
  // mutate: flip bytes, truncate, extend, or rewrite the size field
  const m = new Uint8Array(wire.length + int(rand, 3) * 8);
  m.set(wire);
  const flips = 1 + int(rand, 4);
  for (let f = 0; f < flips; f++) {
    const at = rand() < 0.5 ? int(rand, Math.min(m.length, 16)) : int(rand, m.length);
    m[at] = int(rand, 256);
  }
  const cut = rand() < 0.3 ? m.subarray(0, int(rand, m.length + 1)) : m;
  for (const input of [cut, wire.subarray(0, int(rand, wire.length))]) {
    try {
      messageBytesNeeded(input);
      const d = decodeMessage(input, { ...opts, fdCount: int(rand, 3) });
      const again = decodeMessage(encodeMessage(d, opts), opts);
      if (!sameMessage(again, d)) fail("re-encoding a decoded mutant changed it");
    } catch (e) {
      if (!(e instanceof CodecError)) fail(`non-CodecError: ${e}`);
    }
  }
}

/** The codec's fuzz target (`vhost_user.decodeMessage`). */
export const vhostUserFuzzTarget: FuzzTarget = {
  name: "vhost_user.decodeMessage",
  run(iterations: number, seed: number): void {
    const rand = prng(seed);
    for (let i = 0; i < iterations; i++) runOne(rand, i, seed);
  },
};
