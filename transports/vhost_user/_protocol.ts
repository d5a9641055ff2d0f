/**
 * Messages between the vhost-user control plane (main thread, backend.ts)
 * and the queue Worker (_worker.ts). The Worker sleeps in a blocking poll(2),
 * so every command is posted and then announced on the control eventfd; the
 * Worker counts the announcements and reads that many posted commands before
 * it acts (see _worker.ts).
 *
 * @module
 */

/** How the Worker builds its FUSE server: `import(module)[factory](...args)`. */
export interface ServerFactorySpec {
  /** Absolute URL of the module exporting the factory. */
  module: string;
  /** Name of the exported factory. */
  factory: string;
  /** Structured-cloneable arguments. */
  args: unknown[];
}

/** One mapped guest memory region, as the Worker sees it. */
export interface WorkerRegion {
  /** Guest-physical address of the first byte. */
  guestAddr: bigint;
  /** Size in bytes. */
  size: number;
  /** The front-end's virtual address of the first byte. */
  userAddr: bigint;
  /** This process's address of the first byte (the main thread mapped it). */
  address: bigint;
}

/** Everything the Worker needs to know about one vring. */
export interface WorkerQueue {
  /** Queue index (0 hiprio, 1.. requests). */
  index: number;
  /** Ring layout. */
  layout: "split" | "packed";
  /** Queue size. */
  size: number;
  /** Descriptor table / ring, front-end virtual address. */
  desc: bigint;
  /** Available ring / driver area, front-end virtual address. */
  avail: bigint;
  /** Used ring / device area, front-end virtual address. */
  used: bigint;
  /** SET_VRING_BASE value. */
  base: number;
  /** Kick eventfd, -1 when none. */
  kick: number;
  /** Call eventfd, -1 when none. */
  call: number;
  /** Error eventfd, -1 when none. */
  err: number;
  /** SET_VRING_ENABLE state. */
  enabled: boolean;
  /** Started (a kick fd arrived) and not stopped by GET_VRING_BASE. */
  started: boolean;
  /** VIRTIO_F_EVENT_IDX negotiated. */
  eventIdx: boolean;
  /** VIRTIO_F_INDIRECT_DESC negotiated. */
  indirect: boolean;
}

/**
 * Where and how the Worker records the device (`ringside serve --record`):
 * the Worker imports `module` and calls its `openRecorder(path, options)`,
 * which returns a {@linkcode DeviceRecorder} (engine/recorder.ts's
 * `recorderSpec` builds this).
 */
export interface WorkerRecording {
  /** Absolute URL of the module exporting `openRecorder`. */
  module: string;
  /** The capture file (pcapng). */
  path: string;
  /** Structured-cloneable recorder options (flush bounds, comment, snapshot reference). */
  options: Record<string, unknown>;
}

/** Chain layout as a record carries it. */
export interface RecordedChain {
  /** Head index (split) or buffer id (packed). */
  head: number;
  /** Descriptors in the chain. */
  descriptors: number;
  /** Device-readable bytes. */
  readableBytes: number;
  /** Device-writable bytes. */
  writableBytes: number;
}

/** Where a record travelled. */
export interface RecordedMeta {
  /** Virtqueue index. */
  queue?: number;
  /** Chain layout. */
  chain?: RecordedChain;
  /** Record flags (malformed 0x2, indirect 0x4, packed 0x8). */
  flags?: number;
  /** What was wrong with a malformed chain (the virtqueue error's kind). */
  malformation?: string;
  /** Time in ns since the epoch. */
  timeNs?: bigint;
  /** Stamped with the previous record's time. */
  atPrevious?: boolean;
}

/** What the Worker needs of a recorder (engine/recorder.ts's `Recorder` has it). */
export interface DeviceRecorder {
  /** Interface id of a channel, added on first use. */
  channel(name: string, options?: { description?: string }): number;
  /** A FUSE request. */
  fuseRequest(channel: number, bytes: Uint8Array, meta?: RecordedMeta): void;
  /** A FUSE reply. */
  fuseReply(channel: number, bytes: Uint8Array, meta?: RecordedMeta): void;
  /** A FUSE request in pieces: its headers, then data in guest buffers. */
  fuseRequestParts(
    channel: number,
    head: Uint8Array,
    data: readonly Uint8Array[],
    meta?: RecordedMeta,
  ): void;
  /** A FUSE reply in pieces: fuse_out_header, then data in guest buffers. */
  fuseReplyParts(
    channel: number,
    head: Uint8Array,
    data: readonly Uint8Array[],
    meta?: RecordedMeta,
  ): void;
  /** A vhost-user message. */
  vhostUser(
    channel: number,
    bytes: Uint8Array,
    meta: RecordedMeta & { direction: "front_to_back" | "back_to_front"; fdCount?: number },
  ): void;
  /** A kick with the eventfd counter. */
  ringKick(channel: number, meta: RecordedMeta & { count?: bigint }): void;
  /** A call. */
  ringCall(channel: number, meta: RecordedMeta): void;
  /** A chain returned used. */
  ringChain(channel: number, meta: RecordedMeta & { usedLength?: number }): void;
  /** Bytes recorded but not yet handed to the file. */
  readonly bufferedBytes: number;
  /** Hands what it holds to the file. */
  flush(): void;
  /** Flushes and closes the file. */
  close(): void;
}

/** A vhost-user message the control plane saw, for the Worker's recorder. */
export interface RecordedControlMessage {
  /** The whole message (header and payload). */
  bytes: Uint8Array;
  /** `front_to_back` (QEMU to us) or `back_to_front` (our replies). */
  direction: "front_to_back" | "back_to_front";
  /** File descriptors that travelled with it. */
  fdCount: number;
  /** When the control plane received or sent it (ns since the epoch). */
  timeNs: bigint;
}

/** Main thread to Worker. */
export type ToWorker =
  | {
    type: "init";
    server: ServerFactorySpec;
    control: number;
    record?: WorkerRecording;
    /** The longest adaptive ring-polling window, in us (default 1000; 0: never poll). */
    spinMicroseconds?: number;
    /** Threads per large READ: 1 (default) or 2. */
    readThreads?: number;
  }
  | { type: "record"; messages: RecordedControlMessage[] }
  | { type: "memory"; id: number; regions: WorkerRegion[] }
  | { type: "queue"; id: number; queue: WorkerQueue }
  | { type: "stop"; id: number; index: number }
  | {
    type: "reset";
    id: number;
    memory: boolean;
    session: boolean;
    /** The front-end went away: the next one's records go to a new pcapng section. */
    endSection?: boolean;
  }
  | { type: "exit"; id: number };

/** Worker to main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "done"; id: number; base?: number; error?: string }
  | { type: "log"; line: string }
  | { type: "needs-reset"; index: number; reason: string };

/** A command as the main thread writes it (the id is added when sent). */
export type WorkerCommand = Exclude<ToWorker, { type: "init" } | { type: "record" }> extends infer T
  ? T extends { id: number } ? Omit<T, "id"> : never
  : never;
