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

/** Main thread to Worker. */
export type ToWorker =
  | { type: "init"; server: ServerFactorySpec; control: number }
  | { type: "memory"; id: number; regions: WorkerRegion[] }
  | { type: "queue"; id: number; queue: WorkerQueue }
  | { type: "stop"; id: number; index: number }
  | { type: "reset"; id: number; memory: boolean; session: boolean }
  | { type: "exit"; id: number };

/** Worker to main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "done"; id: number; base?: number; error?: string }
  | { type: "log"; line: string }
  | { type: "needs-reset"; index: number; reason: string };

/** A command as the main thread writes it (the id is added when sent). */
export type WorkerCommand = Exclude<ToWorker, { type: "init" }> extends infer T
  ? T extends { id: number } ? Omit<T, "id"> : never
  : never;
