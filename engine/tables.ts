/**
 * The passthrough engine's state: the inode table (node id ↔ host object,
 * identified by device and inode number and held by an `O_PATH` descriptor,
 * with the kernel's lookup count) and the handle tables (file and directory
 * handles ↔ open descriptors).
 *
 * Node ids and handles other than the root are `tag * 2^32 + counter`, where
 * the tag is random per table generation: ids from another session, from
 * before a reset, or never issued do not resolve. Memory is bounded by what
 * the client holds: an inode leaves the table (and its descriptor is closed)
 * when FORGET brings its lookup count to zero.
 *
 * @module
 */
import { close, type Stat } from "../sys/fs.ts";
import { Errno, SysError } from "../sys/libc.ts";

/** Error numbers by name (x86_64 Linux values). */
export { Errno };

/** Throws the engine's own error for `errno` (a {@linkcode SysError} so every failure has one shape). */
export function fail(call: string, errno: number, detail?: string): never {
  throw new SysError(call, errno, detail);
}

/** The root's node id. */
export const ROOT_ID = 1;

/** A POSIX lock owner's private descriptor on an inode (its OFD locks are the owner's locks). */
export interface LockOwner {
  /** Descriptor opened for this owner only. */
  fd: number;
  /** Pid that last locked through this owner (for GETLK answers). */
  pid: number;
}

/** One host object the client knows by node id. */
export interface Inode {
  /** The node id handed to the client. */
  readonly nodeid: number;
  /** `O_PATH` descriptor of the object (never followed if a symlink). */
  readonly fd: number;
  /** `S_IFMT` bits of the object (its type never changes). */
  readonly type: number;
  /** Identity key: device and inode number. */
  readonly key: string;
  /** How many times the client was given this node id and has not forgotten it. */
  nlookup: number;
  /** POSIX lock owners (by `lock_owner`) with their private descriptors. */
  locks: Map<bigint, LockOwner> | null;
  /**
   * FUSE passthrough: the backing id every passthrough open of this inode
   * shares (the kernel refuses two), with the count of open handles using it;
   * `false` once registering failed (its opens stay cached, never mixed).
   */
  backing?: { id: number; opens: number } | false;
}

function randomTag(): number {
  const b = new Uint32Array(1);
  crypto.getRandomValues(b);
  return (b[0] % 0xffffe) + 1; // 1 .. 2^20-2: ids stay below 2^52
}

/** Node id → {@linkcode Inode}, deduplicated by (device, inode number). */
export class InodeTable {
  #byId = new Map<number, Inode>();
  #byKey = new Map<string, Inode>();
  #base = 0;
  #next = 0;
  /** The root (node id 1): the shared directory. */
  readonly root: Inode;

  /** Builds the table around the shared directory's `O_PATH` descriptor. */
  constructor(rootFd: number, rootStat: Stat) {
    this.root = {
      nodeid: ROOT_ID,
      fd: rootFd,
      type: rootStat.mode & 0o170000,
      key: identity(rootStat),
      nlookup: 1,
      locks: null,
    };
    this.reset();
  }

  /** Number of inodes held (root included). */
  get size(): number {
    return this.#byId.size;
  }

  /** The inode for `nodeid`; throws ESTALE for ids that were forgotten or never issued. */
  get(nodeid: bigint | number): Inode {
    const n = typeof nodeid === "bigint" ? Number(nodeid) : nodeid;
    const inode = this.#byId.get(n);
    if (inode === undefined) fail("nodeid", Errno.ESTALE, String(nodeid));
    return inode;
  }

  /** The inode with identity `key`, if the client holds it. */
  byKey(key: string): Inode | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Counts one more lookup of the object that `fd` (an `O_PATH` descriptor,
   * whose ownership passes to the table) and `stat` describe: an inode the
   * client already holds is reused and `fd` closed.
   */
  intern(fd: number, stat: Stat): Inode {
    const key = identity(stat);
    const found = this.#byKey.get(key);
    if (found !== undefined) {
      if (found.fd !== fd) close(fd);
      found.nlookup++;
      return found;
    }
    const inode: Inode = {
      nodeid: this.#base + ++this.#next,
      fd,
      type: stat.mode & 0o170000,
      key,
      nlookup: 1,
      locks: null,
    };
    this.#byId.set(inode.nodeid, inode);
    this.#byKey.set(key, inode);
    return inode;
  }

  /** FORGET: drops `n` lookups of `nodeid`; unknown ids are ignored (there is no reply to fail). */
  forget(nodeid: bigint | number, n: bigint | number): void {
    const id = typeof nodeid === "bigint" ? Number(nodeid) : nodeid;
    const inode = this.#byId.get(id);
    if (inode === undefined) return;
    const count = typeof n === "bigint" ? Number(n) : n;
    inode.nlookup = Math.max(0, inode.nlookup - count);
    if (inode.nlookup === 0 && inode !== this.root) this.#drop(inode);
  }

  #drop(inode: Inode): void {
    this.#byId.delete(inode.nodeid);
    if (this.#byKey.get(inode.key) === inode) this.#byKey.delete(inode.key);
    closeLocks(inode);
    close(inode.fd);
  }

  /** Forgets every inode but the root and starts a new id generation (old ids stop resolving). */
  reset(): void {
    for (const inode of this.#byId.values()) {
      if (inode !== this.root) this.#drop(inode);
    }
    this.#byId.clear();
    this.#byKey.clear();
    closeLocks(this.root);
    this.root.nlookup = 1;
    this.#byId.set(ROOT_ID, this.root);
    this.#byKey.set(this.root.key, this.root);
    this.#base = randomTag() * 0x100000000;
    this.#next = 0;
  }

  /** Closes every descriptor, the root's included. */
  close(): void {
    this.reset();
    this.#byId.clear();
    this.#byKey.clear();
    close(this.root.fd);
  }
}

function closeLocks(inode: Inode): void {
  if (inode.locks === null) return;
  for (const owner of inode.locks.values()) close(owner.fd);
  inode.locks = null;
}

/** The identity of a host object: device and inode number. */
export function identity(stat: Stat): string {
  return `${stat.dev}:${stat.ino}`;
}

/** An open file or directory handed to the client as `fh`. */
export interface Handle {
  /** The open descriptor. */
  readonly fd: number;
  /** The inode it was opened from. */
  readonly inode: Inode;
  /** Open flags as used on the host. */
  readonly flags: number;
  /** Directory streams: the host listing being returned (made on the first READDIR). */
  dir: DirStream | null;
  /** Directory streams: the cookie of the position after the last returned entry. */
  pos: bigint;
  /** Whether this open file uses its inode's passthrough backing id. */
  backing?: boolean;
}

/** A directory handle's host listing: the last getdents64 batch, and how far replies took it. */
export interface DirStream {
  /** linux_dirent64 records as getdents64 wrote them. */
  readonly buf: Uint8Array;
  /** A view of `buf`. */
  readonly view: DataView;
  /** Bytes of `buf` the last getdents64 filled. */
  len: number;
  /** Where the first record not yet returned starts. */
  at: number;
  /** The directory's device in inode keys (`dev:`), to find entries the client holds. */
  readonly keyPrefix: string;
}

/** `fh` → {@linkcode Handle}; handles from other sessions or generations do not resolve. */
export class HandleTable {
  #byId = new Map<number, Handle>();
  #base = 0;
  #next = 0;

  /** Starts empty with a fresh id generation. */
  constructor() {
    this.reset();
  }

  /** Number of open handles. */
  get size(): number {
    return this.#byId.size;
  }

  /** Registers an open descriptor; returns its handle id. */
  add(fd: number, inode: Inode, flags: number): number {
    const id = this.#base + ++this.#next;
    this.#byId.set(id, { fd, inode, flags, dir: null, pos: 0n });
    return id;
  }

  /** The handle `fh`; throws EBADF when it is not open in this session. */
  get(fh: bigint | number): Handle {
    const h = this.#byId.get(typeof fh === "bigint" ? Number(fh) : fh);
    if (h === undefined) fail("fh", Errno.EBADF, String(fh));
    return h;
  }

  /** Closes and removes `fh`; throws EBADF when it is not open. */
  release(fh: bigint | number): Handle {
    const id = typeof fh === "bigint" ? Number(fh) : fh;
    const h = this.#byId.get(id);
    if (h === undefined) fail("fh", Errno.EBADF, String(fh));
    this.#byId.delete(id);
    close(h.fd);
    return h;
  }

  /** Closes every handle and starts a new id generation. */
  reset(): void {
    for (const h of this.#byId.values()) close(h.fd);
    this.#byId.clear();
    this.#base = randomTag() * 0x100000000;
    this.#next = 0;
  }
}
