/**
 * The vhost-user wire format (QEMU docs/interop/vhost-user.rst, "Message
 * Specification", "Front-end message types", "Back-end message types"):
 * a 12-byte header (request, flags, size) and a typed payload, in the
 * machine's byte order (little-endian here: x86_64 and aarch64).
 *
 * Two channels carry these messages: the main socket, where the front-end
 * (QEMU) sends front-end requests and the back-end replies, and the optional
 * back-end channel (`SET_BACKEND_REQ_FD`), where the back-end sends back-end
 * requests and the front-end replies. Request codes overlap between the two,
 * so every decoder takes the channel.
 *
 * @module
 */
import { CodecError } from "../errors.ts";

/** Size of the message header: request, flags and size, 32 bits each. */
export const VHOST_USER_HEADER_SIZE = 12;
/** The protocol version, kept in bits 0-1 of the header flags. */
export const VHOST_USER_VERSION = 0x1;
/** Mask of the version bits in the header flags. */
export const VHOST_USER_VERSION_MASK = 0x3;
/** Header flag set on every reply. */
export const VHOST_USER_REPLY_MASK = 0x4;
/** Header flag by which a sender asks for a REPLY_ACK. */
export const VHOST_USER_NEED_REPLY_MASK = 0x8;
/** In the u64 of SET_VRING_KICK/CALL/ERR (and a vring area's u64), the ring index bits. */
export const VHOST_USER_VRING_IDX_MASK = 0xffn;
/** In the same u64s, set when the message carries no file descriptor. */
export const VHOST_USER_VRING_NOFD_MASK = 0x100n;
/** Device feature bit by which a back-end announces protocol-feature negotiation. */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;
/** Memory regions in one SET_MEM_TABLE (VHOST_MEMORY_BASELINE_NREGIONS), also the most fds per message. */
export const VHOST_MEMORY_BASELINE_NREGIONS = 8;
/** Largest virtio config space access (VHOST_USER_MAX_CONFIG_SIZE). */
export const VHOST_USER_MAX_CONFIG_SIZE = 256;
/** Entries of the VIRTIO Shared Memory Region configuration array. */
export const VHOST_USER_MAX_SHMEM_REGIONS = 256;
/**
 * The largest payload this codec accepts: the biggest defined layout is the
 * shared memory configuration (2056 bytes); crypto sessions stay well below.
 */
export const VHOST_USER_MAX_PAYLOAD_SIZE = 4096;

/** Front-end request codes (sent by the front-end on the main socket). */
export const FrontendRequest = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  SET_BACKEND_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  CREATE_CRYPTO_SESSION: 26,
  CLOSE_CRYPTO_SESSION: 27,
  POSTCOPY_ADVISE: 28,
  POSTCOPY_LISTEN: 29,
  POSTCOPY_END: 30,
  GET_INFLIGHT_FD: 31,
  SET_INFLIGHT_FD: 32,
  GPU_SET_SOCKET: 33,
  RESET_DEVICE: 34,
  VRING_KICK: 35,
  GET_MAX_MEM_SLOTS: 36,
  ADD_MEM_REG: 37,
  REM_MEM_REG: 38,
  SET_STATUS: 39,
  GET_STATUS: 40,
  GET_SHARED_OBJECT: 41,
  SET_DEVICE_STATE_FD: 42,
  CHECK_DEVICE_STATE: 43,
  GET_SHMEM_CONFIG: 44,
} as const;

/** Back-end request codes (sent by the back-end on the back-end channel). */
export const BackendRequest = {
  IOTLB_MSG: 1,
  CONFIG_CHANGE_MSG: 2,
  VRING_HOST_NOTIFIER_MSG: 3,
  VRING_CALL: 4,
  VRING_ERR: 5,
  SHARED_OBJECT_ADD: 6,
  SHARED_OBJECT_REMOVE: 7,
  SHARED_OBJECT_LOOKUP: 8,
  SHMEM_MAP: 9,
  SHMEM_UNMAP: 10,
} as const;

/**
 * Protocol feature bit numbers (VHOST_USER_PROTOCOL_F_*). Bits 20-22 follow
 * the newest QEMU tree (GET_VRING_BASE_INFLIGHT, GPA_ADDRESSES, SHMEM); an
 * older revision of vhost-user.rst numbered SHMEM 20.
 */
export const ProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  MTU: 4,
  BACKEND_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  BACKEND_SEND_FD: 10,
  HOST_NOTIFIER: 11,
  INFLIGHT_SHMFD: 12,
  RESET_DEVICE: 13,
  INBAND_NOTIFICATIONS: 14,
  CONFIGURE_MEM_SLOTS: 15,
  STATUS: 16,
  XEN_MMAP: 17,
  SHARED_OBJECT: 18,
  DEVICE_STATE: 19,
  GET_VRING_BASE_INFLIGHT: 20,
  GPA_ADDRESSES: 21,
  SHMEM: 22,
} as const;

/** Which side's requests a channel carries: the main socket ("frontend") or the back-end channel. */
export type VhostUserChannel = "frontend" | "backend";

/** The message header. */
export interface VhostUserHeader {
  /** Request code (front-end or back-end table, by channel). */
  request: number;
  /** Version in bits 0-1, REPLY 0x4, NEED_REPLY 0x8. */
  flags: number;
  /** Payload size in bytes. */
  size: number;
}

/** One memory region description (VhostUserMemoryRegion). */
export interface VhostUserMemoryRegion {
  /** Guest physical address of the region. */
  guestPhysAddr: bigint;
  /** Region size in bytes. */
  memorySize: bigint;
  /** The front-end's virtual address of the region (ring addresses are these). */
  userspaceAddr: bigint;
  /** Offset of the region in the passed file descriptor. */
  mmapOffset: bigint;
  /** With XEN_MMAP only: Xen mapping flags. */
  xenMmapFlags?: number;
  /** With XEN_MMAP only: Xen domain id. */
  domid?: number;
}

/** A typed payload; `kind` names the layout of vhost-user.rst it follows. */
export type VhostUserPayload =
  | { kind: "none" }
  | { kind: "u64"; u64: bigint }
  | { kind: "vring_state"; index: number; num: number }
  | {
    kind: "vring_addr";
    index: number;
    /** VHOST_VRING_F_LOG (bit 0) and friends. */
    flags: number;
    descUserAddr: bigint;
    usedUserAddr: bigint;
    availUserAddr: bigint;
    logGuestAddr: bigint;
  }
  | { kind: "memory"; regions: VhostUserMemoryRegion[] }
  | { kind: "mem_reg"; region: VhostUserMemoryRegion }
  | { kind: "log"; mmapSize: bigint; mmapOffset: bigint }
  | { kind: "iotlb"; iova: bigint; size: bigint; uaddr: bigint; perm: number; type: number }
  | { kind: "config"; offset: number; flags: number; region: Uint8Array }
  | { kind: "vring_area"; u64: bigint; size: bigint; offset: bigint }
  | { kind: "inflight"; mmapSize: bigint; mmapOffset: bigint; numQueues: number; queueSize: number }
  | { kind: "shared_object"; uuid: Uint8Array }
  | { kind: "device_state"; direction: number; phase: number }
  | {
    kind: "mmap";
    shmid: number;
    fdOffset: bigint;
    shmOffset: bigint;
    len: bigint;
    flags: bigint;
  }
  | { kind: "shmem_config"; nregions: number; memorySizes: bigint[] }
  | { kind: "bytes"; bytes: Uint8Array };

/** The payload layouts, by name. */
export type VhostUserPayloadKind = VhostUserPayload["kind"];

/** A whole message: header fields (size is derived from the payload) and payload. */
export interface VhostUserMessage {
  /** Request code. */
  request: number;
  /** Header flags (version, REPLY, NEED_REPLY). */
  flags: number;
  /** The payload. */
  payload: VhostUserPayload;
}

/** How many file descriptors a message may carry in its ancillary data. */
export interface FdCount {
  /** Fewest. */
  min: number;
  /** Most. */
  max: number;
}

/** Options shared by the decoders and table look-ups. */
export interface VhostUserCodecOptions {
  /** Which requests the channel carries; "frontend" (the main socket) by default. */
  channel?: VhostUserChannel;
  /** VHOST_USER_PROTOCOL_F_XEN_MMAP negotiated: memory regions carry two more u32s. */
  xenMmap?: boolean;
}

/** Options of {@linkcode decodeMessage}. */
export interface DecodeOptions extends VhostUserCodecOptions {
  /** File descriptors received with the message; checked against the message's rule when given. */
  fdCount?: number;
}

type FdRule = "none" | "one" | "optional" | "regions" | "nofd_bit";

interface RequestSpec {
  name: string;
  /** Request payload layout; "log_base" is u64 (8 bytes) or log (16 bytes). */
  request: VhostUserPayloadKind | "log_base";
  /** Explicit reply body, or undefined when only a REPLY_ACK u64 answers. */
  reply?: VhostUserPayloadKind;
  fds: FdRule;
  replyFds: FdRule;
}

function spec(
  name: string,
  request: RequestSpec["request"],
  reply?: VhostUserPayloadKind,
  fds: FdRule = "none",
  replyFds: FdRule = "none",
): RequestSpec {
  return { name, request, reply, fds, replyFds };
}

const FRONTEND_SPECS: Readonly<Record<number, RequestSpec>> = {
  1: spec("GET_FEATURES", "none", "u64"),
  2: spec("SET_FEATURES", "u64"),
  3: spec("SET_OWNER", "none"),
  4: spec("RESET_OWNER", "none"),
  5: spec("SET_MEM_TABLE", "memory", "memory", "regions"),
  6: spec("SET_LOG_BASE", "log_base", "u64", "optional"),
  7: spec("SET_LOG_FD", "none", undefined, "one"),
  8: spec("SET_VRING_NUM", "vring_state"),
  9: spec("SET_VRING_ADDR", "vring_addr"),
  10: spec("SET_VRING_BASE", "vring_state"),
  11: spec("GET_VRING_BASE", "vring_state", "vring_state"),
  12: spec("SET_VRING_KICK", "u64", undefined, "nofd_bit"),
  13: spec("SET_VRING_CALL", "u64", undefined, "nofd_bit"),
  14: spec("SET_VRING_ERR", "u64", undefined, "nofd_bit"),
  15: spec("GET_PROTOCOL_FEATURES", "none", "u64"),
  16: spec("SET_PROTOCOL_FEATURES", "u64"),
  17: spec("GET_QUEUE_NUM", "none", "u64"),
  18: spec("SET_VRING_ENABLE", "vring_state"),
  19: spec("SEND_RARP", "u64"),
  20: spec("NET_SET_MTU", "u64"),
  21: spec("SET_BACKEND_REQ_FD", "none", undefined, "one"),
  22: spec("IOTLB_MSG", "iotlb", "u64"),
  23: spec("SET_VRING_ENDIAN", "vring_state"),
  24: spec("GET_CONFIG", "config", "config"),
  25: spec("SET_CONFIG", "config"),
  26: spec("CREATE_CRYPTO_SESSION", "bytes", "bytes"),
  27: spec("CLOSE_CRYPTO_SESSION", "u64"),
  28: spec("POSTCOPY_ADVISE", "none", "u64", "none", "one"),
  29: spec("POSTCOPY_LISTEN", "none"),
  30: spec("POSTCOPY_END", "none", "u64"),
  31: spec("GET_INFLIGHT_FD", "inflight", "inflight", "none", "one"),
  32: spec("SET_INFLIGHT_FD", "inflight", undefined, "one"),
  33: spec("GPU_SET_SOCKET", "none", undefined, "one"),
  34: spec("RESET_DEVICE", "none"),
  35: spec("VRING_KICK", "vring_state"),
  36: spec("GET_MAX_MEM_SLOTS", "none", "u64"),
  37: spec("ADD_MEM_REG", "mem_reg", "mem_reg", "one"),
  38: spec("REM_MEM_REG", "mem_reg", "mem_reg", "optional"),
  39: spec("SET_STATUS", "u64"),
  40: spec("GET_STATUS", "none", "u64"),
  41: spec("GET_SHARED_OBJECT", "shared_object", "u64", "none", "optional"),
  42: spec("SET_DEVICE_STATE_FD", "device_state", "u64", "one", "nofd_bit"),
  43: spec("CHECK_DEVICE_STATE", "none", "u64"),
  44: spec("GET_SHMEM_CONFIG", "none", "shmem_config"),
};

const BACKEND_SPECS: Readonly<Record<number, RequestSpec>> = {
  1: spec("IOTLB_MSG", "iotlb"),
  2: spec("CONFIG_CHANGE_MSG", "none"),
  3: spec("VRING_HOST_NOTIFIER_MSG", "vring_area", undefined, "nofd_bit"),
  4: spec("VRING_CALL", "vring_state"),
  5: spec("VRING_ERR", "vring_state"),
  6: spec("SHARED_OBJECT_ADD", "shared_object"),
  7: spec("SHARED_OBJECT_REMOVE", "shared_object"),
  8: spec("SHARED_OBJECT_LOOKUP", "shared_object", "u64", "none", "optional"),
  9: spec("SHMEM_MAP", "mmap", undefined, "one"),
  10: spec("SHMEM_UNMAP", "mmap"),
};

function specsOf(channel: VhostUserChannel | undefined): Readonly<Record<number, RequestSpec>> {
  return channel === "backend" ? BACKEND_SPECS : FRONTEND_SPECS;
}

function specFor(request: number, channel: VhostUserChannel | undefined): RequestSpec {
  const s = specsOf(channel)[request];
  if (s === undefined) {
    const side = channel === "backend" ? "back-end" : "front-end";
    throw new CodecError("VhostUserMsg.request", 0, `unknown ${side} request ${request}`);
  }
  return s;
}

/** `VHOST_USER_<NAME>` of a request code (`GET_FEATURES`), or `REQUEST_<n>` when unknown. */
export function requestName(request: number, options: VhostUserCodecOptions = {}): string {
  const s = specsOf(options.channel)[request];
  if (s === undefined) return `REQUEST_${request}`;
  return options.channel === "backend" ? `BACKEND_${s.name}` : s.name;
}

/** The payload layout a request (or, with `reply`, its reply) uses when it has a body. */
export function payloadKindOf(
  request: number,
  options: VhostUserCodecOptions & { reply?: boolean } = {},
): VhostUserPayloadKind | "log_base" {
  const s = specFor(request, options.channel);
  if (options.reply) return s.reply ?? "u64";
  return s.request;
}

// ---------------------------------------------------------------- sizes

/** Size of one memory region on the wire: 32 bytes, 40 with XEN_MMAP. */
export function memoryRegionSize(xenMmap = false): number {
  return xenMmap ? 40 : 32;
}

const FIXED_SIZES: Partial<Record<VhostUserPayloadKind, number>> = {
  none: 0,
  u64: 8,
  vring_state: 8,
  vring_addr: 40,
  log: 16,
  iotlb: 32, // struct vhost_iotlb_msg: 26 bytes of fields, padded to 32
  vring_area: 24,
  inflight: 24, // VhostUserInflight: 20 bytes of fields, padded to 24
  shared_object: 16,
  device_state: 8,
  mmap: 40,
};

/** Payload size of `payload` as this codec encodes it. */
export function payloadSize(
  payload: VhostUserPayload,
  options: VhostUserCodecOptions = {},
): number {
  const region = memoryRegionSize(options.xenMmap);
  switch (payload.kind) {
    case "memory":
      return 8 + payload.regions.length * region;
    case "mem_reg":
      return 8 + region;
    case "config":
      return 12 + payload.region.length;
    case "shmem_config":
      return 8 + VHOST_USER_MAX_SHMEM_REGIONS * 8;
    case "bytes":
      return payload.bytes.length;
    default:
      return FIXED_SIZES[payload.kind]!;
  }
}

// ---------------------------------------------------------------- header

/** Reads the 12-byte header at the start of `bytes`. */
export function decodeHeader(bytes: Uint8Array): VhostUserHeader {
  if (bytes.length < VHOST_USER_HEADER_SIZE) {
    throw new CodecError(
      "VhostUserMsg.header",
      0,
      `expected at least ${VHOST_USER_HEADER_SIZE} bytes, found ${bytes.length}`,
    );
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = {
    request: v.getUint32(0, true),
    flags: v.getUint32(4, true),
    size: v.getUint32(8, true),
  };
  if ((header.flags & VHOST_USER_VERSION_MASK) !== VHOST_USER_VERSION) {
    throw new CodecError(
      "VhostUserMsg.flags",
      4,
      `expected version ${VHOST_USER_VERSION}, found ${header.flags & VHOST_USER_VERSION_MASK}`,
    );
  }
  if (header.size > VHOST_USER_MAX_PAYLOAD_SIZE) {
    throw new CodecError(
      "VhostUserMsg.size",
      8,
      `expected at most ${VHOST_USER_MAX_PAYLOAD_SIZE}, found ${header.size}`,
    );
  }
  return header;
}

/**
 * How many bytes the message at the start of `buffered` needs in total:
 * 12 while the header is incomplete, then 12 + size. A reader reads until it
 * has that many bytes, then calls {@linkcode decodeMessage}. Throws a
 * {@linkcode CodecError} as soon as the header is invalid.
 *
 * @example
 * ```ts
 * import { encodeMessage, messageBytesNeeded } from "./vhost_user.ts";
 * const msg = encodeMessage({ request: 2, flags: 1, payload: { kind: "u64", u64: 1n } });
 * console.log(messageBytesNeeded(msg.subarray(0, 5)), messageBytesNeeded(msg)); // 12 20
 * ```
 */
export function messageBytesNeeded(buffered: Uint8Array): number {
  if (buffered.length < VHOST_USER_HEADER_SIZE) return VHOST_USER_HEADER_SIZE;
  return VHOST_USER_HEADER_SIZE + decodeHeader(buffered).size;
}

// ---------------------------------------------------------------- decoding

class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly base: number) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8(at: number): number {
    return this.view.getUint8(at);
  }
  u16(at: number): number {
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  u64(at: number): bigint {
    return this.view.getBigUint64(at, true);
  }
}

function sizeError(what: string, expected: string, found: number): CodecError {
  return new CodecError(`${what}.size`, 8, `expected ${expected} payload bytes, found ${found}`);
}

function decodeRegion(r: Reader, at: number, xen: boolean): VhostUserMemoryRegion {
  const region: VhostUserMemoryRegion = {
    guestPhysAddr: r.u64(at),
    memorySize: r.u64(at + 8),
    userspaceAddr: r.u64(at + 16),
    mmapOffset: r.u64(at + 24),
  };
  if (xen) {
    region.xenMmapFlags = r.u32(at + 32);
    region.domid = r.u32(at + 36);
  }
  return region;
}

function decodePayload(
  kind: VhostUserPayloadKind | "log_base",
  p: Uint8Array,
  name: string,
  options: VhostUserCodecOptions,
): VhostUserPayload {
  const r = new Reader(p, VHOST_USER_HEADER_SIZE);
  const n = p.length;
  const H = VHOST_USER_HEADER_SIZE;
  const exact = (k: VhostUserPayloadKind, ...sizes: number[]) => {
    if (!sizes.includes(n)) throw sizeError(name, `${sizes.join(" or ")} (${k})`, n);
  };
  switch (kind) {
    case "none":
      exact("none", 0);
      return { kind: "none" };
    case "u64":
      exact("u64", 8);
      return { kind: "u64", u64: r.u64(0) };
    case "log_base":
      if (n === 8) return { kind: "u64", u64: r.u64(0) };
      exact("log", 8, 16);
      return { kind: "log", mmapSize: r.u64(0), mmapOffset: r.u64(8) };
    case "log":
      exact("log", 16);
      return { kind: "log", mmapSize: r.u64(0), mmapOffset: r.u64(8) };
    case "vring_state":
      exact("vring_state", 8);
      return { kind: "vring_state", index: r.u32(0), num: r.u32(4) };
    case "vring_addr":
      exact("vring_addr", 40);
      return {
        kind: "vring_addr",
        index: r.u32(0),
        flags: r.u32(4),
        descUserAddr: r.u64(8),
        usedUserAddr: r.u64(16),
        availUserAddr: r.u64(24),
        logGuestAddr: r.u64(32),
      };
    case "memory": {
      if (n < 8) throw sizeError(name, "at least 8 (memory)", n);
      const nregions = r.u32(0);
      if (nregions > VHOST_MEMORY_BASELINE_NREGIONS) {
        throw new CodecError(
          "VhostUserMemory.nregions",
          H,
          `expected at most ${VHOST_MEMORY_BASELINE_NREGIONS}, found ${nregions}`,
        );
      }
      const rs = memoryRegionSize(options.xenMmap);
      // QEMU sends only the used regions; the full 8-slot struct is accepted too.
      const used = 8 + nregions * rs;
      const full = 8 + VHOST_MEMORY_BASELINE_NREGIONS * rs;
      if (n !== used && n !== full) throw sizeError(name, `${used} or ${full} (memory)`, n);
      const regions: VhostUserMemoryRegion[] = [];
      for (let i = 0; i < nregions; i++) {
        regions.push(decodeRegion(r, 8 + i * rs, !!options.xenMmap));
      }
      return { kind: "memory", regions };
    }
    case "mem_reg": {
      exact("mem_reg", 8 + memoryRegionSize(options.xenMmap));
      return { kind: "mem_reg", region: decodeRegion(r, 8, !!options.xenMmap) };
    }
    case "iotlb":
      exact("iotlb", 26, 32);
      return {
        kind: "iotlb",
        iova: r.u64(0),
        size: r.u64(8),
        uaddr: r.u64(16),
        perm: r.u8(24),
        type: r.u8(25),
      };
    case "config": {
      if (n < 12) throw sizeError(name, "at least 12 (config)", n);
      const size = r.u32(4);
      if (size > VHOST_USER_MAX_CONFIG_SIZE) {
        throw new CodecError(
          "VhostUserConfig.size",
          H + 4,
          `expected at most ${VHOST_USER_MAX_CONFIG_SIZE}, found ${size}`,
        );
      }
      if (n !== 12 + size) {
        throw new CodecError(
          "VhostUserConfig.size",
          H + 4,
          `config size ${size} disagrees with payload size ${n} (expected ${n - 12})`,
        );
      }
      return { kind: "config", offset: r.u32(0), flags: r.u32(8), region: p.slice(12) };
    }
    case "vring_area":
      exact("vring_area", 24);
      return { kind: "vring_area", u64: r.u64(0), size: r.u64(8), offset: r.u64(16) };
    case "inflight":
      exact("inflight", 20, 24);
      return {
        kind: "inflight",
        mmapSize: r.u64(0),
        mmapOffset: r.u64(8),
        numQueues: r.u16(16),
        queueSize: r.u16(18),
      };
    case "shared_object":
      exact("shared_object", 16);
      return { kind: "shared_object", uuid: p.slice(0, 16) };
    case "device_state":
      exact("device_state", 8);
      return { kind: "device_state", direction: r.u32(0), phase: r.u32(4) };
    case "mmap":
      exact("mmap", 40);
      return {
        kind: "mmap",
        shmid: r.u8(0),
        fdOffset: r.u64(8),
        shmOffset: r.u64(16),
        len: r.u64(24),
        flags: r.u64(32),
      };
    case "shmem_config": {
      if (n < 8 || n % 8 !== 0 || n > 8 + VHOST_USER_MAX_SHMEM_REGIONS * 8) {
        throw sizeError(name, `8 + 8*k, k <= ${VHOST_USER_MAX_SHMEM_REGIONS} (shmem_config)`, n);
      }
      const nregions = r.u32(0);
      const count = (n - 8) / 8;
      if (nregions > count) {
        throw new CodecError(
          "VhostUserShMemConfig.nregions",
          H,
          `expected at most ${count} (the sizes sent), found ${nregions}`,
        );
      }
      const memorySizes: bigint[] = [];
      for (let i = 0; i < count; i++) memorySizes.push(r.u64(8 + i * 8));
      return { kind: "shmem_config", nregions, memorySizes };
    }
    case "bytes":
      return { kind: "bytes", bytes: p.slice() };
  }
}

/** How many fds the rule allows, given the decoded payload. */
function fdCountFor(rule: FdRule, payload: VhostUserPayload): FdCount {
  switch (rule) {
    case "none":
      return { min: 0, max: 0 };
    case "one":
      return { min: 1, max: 1 };
    case "optional":
      return { min: 0, max: 1 };
    case "regions": {
      const n = payload.kind === "memory" ? payload.regions.length : 0;
      return { min: n, max: n };
    }
    case "nofd_bit": {
      const u = payload.kind === "u64" || payload.kind === "vring_area" ? payload.u64 : 0n;
      return (u & VHOST_USER_VRING_NOFD_MASK) !== 0n ? { min: 0, max: 0 } : { min: 1, max: 1 };
    }
  }
}

/**
 * How many file descriptors `msg` must carry: SET_MEM_TABLE one per region,
 * ADD_MEM_REG/SET_LOG_FD/SET_BACKEND_REQ_FD/SET_INFLIGHT_FD/GPU_SET_SOCKET/
 * SET_DEVICE_STATE_FD/SHMEM_MAP one, SET_VRING_KICK/CALL/ERR and
 * VRING_HOST_NOTIFIER one unless VHOST_USER_VRING_NOFD_MASK is set, and so on.
 */
export function expectedFdCount(
  msg: VhostUserMessage,
  options: VhostUserCodecOptions = {},
): FdCount {
  const s = specFor(msg.request, options.channel);
  const reply = (msg.flags & VHOST_USER_REPLY_MASK) !== 0;
  if (reply) {
    if (msg.payload.kind === "none") return { min: 0, max: 0 };
    // a REPLY_ACK to a request without an explicit reply body never carries fds
    if (s.reply === undefined) return { min: 0, max: 0 };
    return fdCountFor(s.replyFds, msg.payload);
  }
  return fdCountFor(s.fds, msg.payload);
}

function replyKind(s: RequestSpec, size: number): VhostUserPayloadKind {
  if (size === 0) return "none"; // e.g. GET_CONFIG's error reply
  const body = s.reply;
  if (body === undefined) return "u64"; // REPLY_ACK
  if (size === 8 && body !== "vring_state" && body !== "bytes") return "u64";
  return body;
}

/**
 * Decodes one whole message (`bytes` holds exactly header + payload; see
 * {@linkcode messageBytesNeeded}). Throws {@linkcode CodecError} on short,
 * oversized or inconsistent input, and on a wrong fd count when
 * `options.fdCount` is given.
 *
 * @example
 * ```ts
 * import { decodeMessage } from "./vhost_user.ts";
 * const bytes = new Uint8Array([2, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
 * console.log(decodeMessage(bytes)); // { request: 2, flags: 1, payload: { kind: "u64", u64: 1n } }
 * ```
 */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): VhostUserMessage {
  const header = decodeHeader(bytes);
  const total = VHOST_USER_HEADER_SIZE + header.size;
  if (bytes.length !== total) {
    throw new CodecError(
      "VhostUserMsg.size",
      8,
      `header says ${header.size} payload bytes, found ${bytes.length - VHOST_USER_HEADER_SIZE}`,
    );
  }
  const s = specFor(header.request, options.channel);
  const reply = (header.flags & VHOST_USER_REPLY_MASK) !== 0;
  const kind = reply ? replyKind(s, header.size) : s.request;
  const name = requestName(header.request, options);
  const payload = decodePayload(
    kind,
    bytes.subarray(VHOST_USER_HEADER_SIZE, total),
    name,
    options,
  );
  const msg: VhostUserMessage = { request: header.request, flags: header.flags, payload };
  if (options.fdCount !== undefined) {
    const want = expectedFdCount(msg, options);
    if (options.fdCount < want.min || options.fdCount > want.max) {
      const range = want.min === want.max ? `${want.min}` : `${want.min} to ${want.max}`;
      throw new CodecError(
        `${name}.fds`,
        0,
        `expected ${range} file descriptors, found ${options.fdCount}`,
      );
    }
  }
  return msg;
}

/** Result of {@linkcode tryDecodeMessage}: the message, or the error as a value. */
export type DecodeResult = { ok: true; message: VhostUserMessage } | {
  ok: false;
  error: CodecError;
};

/** {@linkcode decodeMessage} with the error as a value instead of thrown. */
export function tryDecodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): DecodeResult {
  try {
    return { ok: true, message: decodeMessage(bytes, options) };
  } catch (e) {
    if (e instanceof CodecError) return { ok: false, error: e };
    throw e;
  }
}

// ---------------------------------------------------------------- encoding

class Writer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(at: number, v: number) {
    this.view.setUint8(at, v);
  }
  u16(at: number, v: number) {
    this.view.setUint16(at, v, true);
  }
  u32(at: number, v: number) {
    this.view.setUint32(at, v, true);
  }
  u64(at: number, v: bigint) {
    this.view.setBigUint64(at, BigInt.asUintN(64, v), true);
  }
}

function encodeRegion(w: Writer, at: number, r: VhostUserMemoryRegion, xen: boolean) {
  w.u64(at, r.guestPhysAddr);
  w.u64(at + 8, r.memorySize);
  w.u64(at + 16, r.userspaceAddr);
  w.u64(at + 24, r.mmapOffset);
  if (xen) {
    w.u32(at + 32, r.xenMmapFlags ?? 0);
    w.u32(at + 36, r.domid ?? 0);
  }
}

function encodePayload(w: Writer, p: VhostUserPayload, options: VhostUserCodecOptions) {
  const o = VHOST_USER_HEADER_SIZE;
  const xen = !!options.xenMmap;
  switch (p.kind) {
    case "none":
      return;
    case "u64":
      return w.u64(o, p.u64);
    case "vring_state":
      w.u32(o, p.index);
      return w.u32(o + 4, p.num);
    case "vring_addr":
      w.u32(o, p.index);
      w.u32(o + 4, p.flags);
      w.u64(o + 8, p.descUserAddr);
      w.u64(o + 16, p.usedUserAddr);
      w.u64(o + 24, p.availUserAddr);
      return w.u64(o + 32, p.logGuestAddr);
    case "memory": {
      w.u32(o, p.regions.length);
      const rs = memoryRegionSize(xen);
      p.regions.forEach((r, i) => encodeRegion(w, o + 8 + i * rs, r, xen));
      return;
    }
    case "mem_reg":
      return encodeRegion(w, o + 8, p.region, xen);
    case "log":
      w.u64(o, p.mmapSize);
      return w.u64(o + 8, p.mmapOffset);
    case "iotlb":
      w.u64(o, p.iova);
      w.u64(o + 8, p.size);
      w.u64(o + 16, p.uaddr);
      w.u8(o + 24, p.perm);
      return w.u8(o + 25, p.type);
    case "config":
      w.u32(o, p.offset);
      w.u32(o + 4, p.region.length);
      w.u32(o + 8, p.flags);
      return w.bytes.set(p.region, o + 12);
    case "vring_area":
      w.u64(o, p.u64);
      w.u64(o + 8, p.size);
      return w.u64(o + 16, p.offset);
    case "inflight":
      w.u64(o, p.mmapSize);
      w.u64(o + 8, p.mmapOffset);
      w.u16(o + 16, p.numQueues);
      return w.u16(o + 18, p.queueSize);
    case "shared_object":
      return w.bytes.set(p.uuid, o);
    case "device_state":
      w.u32(o, p.direction);
      return w.u32(o + 4, p.phase);
    case "mmap":
      w.u8(o, p.shmid);
      w.u64(o + 8, p.fdOffset);
      w.u64(o + 16, p.shmOffset);
      w.u64(o + 24, p.len);
      return w.u64(o + 32, p.flags);
    case "shmem_config":
      w.u32(o, p.nregions);
      p.memorySizes.forEach((s, i) => w.u64(o + 8 + i * 8, s));
      return;
    case "bytes":
      return w.bytes.set(p.bytes, o);
  }
}

function checkEncodable(msg: VhostUserMessage, options: VhostUserCodecOptions) {
  const s = specFor(msg.request, options.channel);
  const reply = (msg.flags & VHOST_USER_REPLY_MASK) !== 0;
  const k = msg.payload.kind;
  const name = requestName(msg.request, options);
  let allowed: string[];
  if (reply) {
    allowed = ["none", "u64", ...(s.reply ? [s.reply] : [])];
  } else {
    allowed = s.request === "log_base" ? ["u64", "log"] : [s.request];
  }
  if (!allowed.includes(k)) {
    throw new CodecError(
      `${name}.payload`,
      VHOST_USER_HEADER_SIZE,
      `expected a ${allowed.join(" or ")} payload, found ${k}`,
    );
  }
  const p = msg.payload;
  if (reply && p.kind === "memory" && p.regions.length === 0) {
    throw new CodecError(
      "VhostUserMemory.nregions",
      VHOST_USER_HEADER_SIZE,
      "a reply memory table needs a region: with none it reads as a REPLY_ACK u64",
    );
  }
  if (p.kind === "memory" && p.regions.length > VHOST_MEMORY_BASELINE_NREGIONS) {
    throw new CodecError(
      "VhostUserMemory.nregions",
      VHOST_USER_HEADER_SIZE,
      `expected at most ${VHOST_MEMORY_BASELINE_NREGIONS}, found ${p.regions.length}`,
    );
  }
  if (p.kind === "config" && p.region.length > VHOST_USER_MAX_CONFIG_SIZE) {
    throw new CodecError(
      "VhostUserConfig.size",
      VHOST_USER_HEADER_SIZE + 4,
      `expected at most ${VHOST_USER_MAX_CONFIG_SIZE}, found ${p.region.length}`,
    );
  }
  if (p.kind === "shared_object" && p.uuid.length !== 16) {
    throw new CodecError("VhostUserShared.uuid", VHOST_USER_HEADER_SIZE, "expected 16 bytes");
  }
  if (p.kind === "shmem_config" && p.memorySizes.length > VHOST_USER_MAX_SHMEM_REGIONS) {
    throw new CodecError(
      "VhostUserShMemConfig.memory_sizes",
      VHOST_USER_HEADER_SIZE + 8,
      `expected at most ${VHOST_USER_MAX_SHMEM_REGIONS}, found ${p.memorySizes.length}`,
    );
  }
  if (p.kind === "bytes" && p.bytes.length > VHOST_USER_MAX_PAYLOAD_SIZE) {
    throw new CodecError(
      `${name}.size`,
      8,
      `expected at most ${VHOST_USER_MAX_PAYLOAD_SIZE}, found ${p.bytes.length}`,
    );
  }
}

/**
 * Encodes a message in either direction (a request, or a reply when
 * `flags & VHOST_USER_REPLY_MASK`); the header size is computed. Throws
 * {@linkcode CodecError} when the payload layout does not fit the request.
 *
 * @example
 * ```ts
 * import { encodeMessage, FrontendRequest } from "./vhost_user.ts";
 * const bytes = encodeMessage({
 *   request: FrontendRequest.SET_VRING_NUM,
 *   flags: 1,
 *   payload: { kind: "vring_state", index: 0, num: 1024 },
 * });
 * console.log(bytes.length); // 20
 * ```
 */
export function encodeMessage(
  msg: VhostUserMessage,
  options: VhostUserCodecOptions = {},
): Uint8Array {
  checkEncodable(msg, options);
  const size = payloadSize(msg.payload, options);
  const w = new Writer(VHOST_USER_HEADER_SIZE + size);
  w.u32(0, msg.request);
  w.u32(4, msg.flags);
  w.u32(8, size);
  encodePayload(w, msg.payload, options);
  return w.bytes;
}

/** Options of {@linkcode encodeRequest}. */
export interface EncodeRequestOptions extends VhostUserCodecOptions {
  /** Sets VHOST_USER_NEED_REPLY_MASK (REPLY_ACK). */
  needReply?: boolean;
}

/** Encodes a request with version 1 flags (and NEED_REPLY when asked). */
export function encodeRequest(
  request: number,
  payload: VhostUserPayload,
  options: EncodeRequestOptions = {},
): Uint8Array {
  const flags = VHOST_USER_VERSION | (options.needReply ? VHOST_USER_NEED_REPLY_MASK : 0);
  return encodeMessage({ request, flags, payload }, options);
}

/** Encodes the reply to `request` (version 1 and REPLY flags). */
export function encodeReply(
  request: number,
  payload: VhostUserPayload,
  options: VhostUserCodecOptions = {},
): Uint8Array {
  return encodeMessage(
    { request, flags: VHOST_USER_VERSION | VHOST_USER_REPLY_MASK, payload },
    options,
  );
}

// ---------------------------------------------------------------- printing

const PROTOCOL_FEATURE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ProtocolFeature).map(([k, v]) => [v, k]),
);

/** Names of the protocol feature bits set in `bits` (unknown ones as `bit<n>`), low bit first. */
export function protocolFeatureNames(bits: bigint): string[] {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) {
    if ((bits >> BigInt(i)) & 1n) out.push(PROTOCOL_FEATURE_NAMES[i] ?? `bit${i}`);
  }
  return out;
}

/** `MQ|REPLY_ACK|bit40`, or `0` when no bit is set. */
export function formatProtocolFeatures(bits: bigint): string {
  const names = protocolFeatureNames(bits);
  return names.length === 0 ? "0" : names.join("|");
}

/** Header flags as text: `v1|REPLY|NEED_REPLY` (unknown bits in hex). */
export function formatFlags(flags: number): string {
  const parts = [`v${flags & VHOST_USER_VERSION_MASK}`];
  if (flags & VHOST_USER_REPLY_MASK) parts.push("REPLY");
  if (flags & VHOST_USER_NEED_REPLY_MASK) parts.push("NEED_REPLY");
  const rest = (flags & ~0xf) >>> 0;
  if (rest) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|");
}

/** One line describing a message: `SET_VRING_NUM v1 {index: 0, num: 1024}`. */
export function formatMessage(msg: VhostUserMessage, options: VhostUserCodecOptions = {}): string {
  const name = requestName(msg.request, options);
  const fields = Object.entries(msg.payload)
    .filter(([k]) => k !== "kind")
    .map(([k, v]) => `${k}: ${formatValue(k, v, msg)}`)
    .join(", ");
  return `${name} ${formatFlags(msg.flags)}${fields ? ` {${fields}}` : ""}`;
}

function formatValue(key: string, v: unknown, msg: VhostUserMessage): string {
  if (
    key === "u64" && typeof v === "bigint" &&
    (msg.request === FrontendRequest.GET_PROTOCOL_FEATURES ||
      msg.request === FrontendRequest.SET_PROTOCOL_FEATURES)
  ) {
    return `0x${v.toString(16)} (${formatProtocolFeatures(v)})`;
  }
  if (typeof v === "bigint") return `0x${v.toString(16)}`;
  if (v instanceof Uint8Array) {
    return Array.from(v.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join("") +
      (v.length > 32 ? `… (${v.length} bytes)` : "");
  }
  if (Array.isArray(v)) return `[${v.map((x) => formatValue("", x, msg)).join(", ")}]`;
  if (typeof v === "object" && v !== null) {
    return `{${Object.entries(v).map(([k, x]) => `${k}: ${formatValue(k, x, msg)}`).join(", ")}}`;
  }
  return String(v);
}
