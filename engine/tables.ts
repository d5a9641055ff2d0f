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
 * when FORGET brings its lookup count to zero. Descriptors are bounded by a
 * budget: past it, inodes are parked as file handles.
 *
 * @module
 */
import {
  close,
  nameToHandleAt,
  O_DIRECTORY,
  O_PATH,
  O_RDONLY,
  openat,
  openByHandleAt,
  openFileLimit,
  S_IFDIR,
  type Stat,
} from "../sys/fs.ts";
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

/**
 * One host object the client knows by node id. It is held by an `O_PATH`
 * descriptor, or, while parked (see {@linkcode InodeTable}), by a file
 * handle that {@linkcode Inode.fd} turns back into a descriptor.
 */
export class Inode {
  /** The node id handed to the client. */
  readonly nodeid: number;
  /** `S_IFMT` bits of the object (its type never changes). */
  readonly type: number;
  /** Identity key: device and inode number. */
  readonly key: string;
  /** How many times the client was given this node id and has not forgotten it. */
  nlookup = 1;
  /** POSIX lock owners (by `lock_owner`) with their private descriptors. */
  locks: Map<bigint, LockOwner> | null = null;
  /**
   * FUSE passthrough: the backing id every passthrough open of this inode
   * shares (the kernel refuses two), with the count of open handles using it;
   * `false` once registering failed (its opens stay cached, never mixed).
   */
  backing?: { id: number; opens: number } | false;
  /** The `O_PATH` descriptor, or -1 while parked. */
  descriptor: number;
  /** While parked: the `struct file_handle` to reopen it by. */
  handle: Uint8Array | null = null;
  /** {@linkcode InodeTable.clock} when a request last used the descriptor. */
  used: number;
  /** False once the object proved impossible to park (no file handle for it). */
  parkable = true;
  readonly #table: InodeTable;

  /** An inode of `table` held by `fd`. */
  constructor(table: InodeTable, nodeid: number, fd: number, type: number, key: string) {
    this.#table = table;
    this.nodeid = nodeid;
    this.descriptor = fd;
    this.type = type;
    this.key = key;
    this.used = table.clock;
  }

  /**
   * The `O_PATH` descriptor of the object (never followed if a symlink),
   * reopened from its file handle if it was parked: ESTALE when the object
   * is gone since. A descriptor read during a request stays open until the
   * next request.
   */
  get fd(): number {
    this.used = this.#table.clock;
    return this.descriptor >= 0 ? this.descriptor : this.#table.unpark(this);
  }
}

function randomTag(): number {
  const b = new Uint32Array(1);
  crypto.getRandomValues(b);
  return (b[0] % 0xffffe) + 1; // 1 .. 2^20-2: ids stay below 2^52
}

/** Options of {@linkcode InodeTable}. */
export interface InodeTableOptions {
  /**
   * How many inodes may hold a descriptor at once before the least recently
   * used are parked (default: half the process's soft limit on open files).
   */
  maxFds?: number;
}

/** What {@linkcode InodeTable.fdStats} reports. */
export interface InodeFdStats {
  /** Inodes holding a descriptor (the root included). */
  open: number;
  /** Inodes parked as file handles. */
  parked: number;
  /** Parkings so far. */
  parks: number;
  /** Reopenings of parked inodes so far. */
  unparks: number;
  /** The budget of descriptors. */
  maxFds: number;
  /** Why parking is off, once it failed for good (no CAP_DAC_READ_SEARCH, say). */
  disabled?: string;
}

/**
 * Node id → {@linkcode Inode}, deduplicated by (device, inode number).
 *
 * The client decides how many inodes are held (the kernel keeps every
 * cached dentry's), so a tree with more objects than the descriptor limit
 * would run out of descriptors. Past a budget ({@linkcode InodeTableOptions.maxFds})
 * the least recently used inodes are parked: their descriptor is traded
 * for a file handle (`name_to_handle_at`), reopened with
 * `open_by_handle_at` when a request needs it, or taken back for free when a
 * lookup opens the object again. Inodes the current request has used are
 * never parked, so a descriptor read during a request stays valid until the
 * next ({@linkcode InodeTable.tick} starts one).
 */
export class InodeTable {
  #byId = new Map<number, Inode>();
  #byKey = new Map<string, Inode>();
  #base = 0;
  #next = 0;
  #parked = 0;
  /** The inodes holding a descriptor (the parking candidates), root included. */
  readonly #held = new Set<Inode>();
  #parks = 0;
  #unparks = 0;
  #maxFds: number;
  #disabled: string | undefined;
  // per device ({@linkcode devicePrefix}): a descriptor open_by_handle_at
  // accepts (not O_PATH), or -1 when that file system cannot be parked
  readonly #anchors = new Map<string, number>();
  /** Advanced by {@linkcode InodeTable.tick} once per request. */
  clock = 1;
  /** The root (node id 1): the shared directory. */
  readonly root: Inode;

  /** Builds the table around the shared directory's `O_PATH` descriptor. */
  constructor(rootFd: number, rootStat: Stat, options: InodeTableOptions = {}) {
    this.#maxFds = options.maxFds ?? Math.max(64, Math.floor(openFileLimit() / 2));
    this.root = new Inode(this, ROOT_ID, rootFd, rootStat.mode & 0o170000, identity(rootStat));
    this.root.parkable = false;
    this.reset();
  }

  /** Number of inodes held (root included). */
  get size(): number {
    return this.#byId.size;
  }

  /** Starts a new request: descriptors read before may be parked from now on. */
  tick(): void {
    this.clock++;
  }

  /** Inodes holding a descriptor: every inode held is either that or parked. */
  get #open(): number {
    return this.#held.size;
  }

  /** Descriptor use and parking so far. */
  fdStats(): InodeFdStats {
    const out: InodeFdStats = {
      open: this.#open,
      parked: this.#parked,
      parks: this.#parks,
      unparks: this.#unparks,
      maxFds: this.#maxFds,
    };
    if (this.#disabled !== undefined) out.disabled = this.#disabled;
    return out;
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
   * client already holds is reused (taking `fd` back if it was parked) and
   * `fd` closed.
   */
  intern(fd: number, stat: Stat): Inode {
    const key = identity(stat);
    const found = this.#byKey.get(key);
    if (found !== undefined) {
      found.used = this.clock;
      if (found.descriptor < 0) {
        found.descriptor = fd;
        found.handle = null;
        this.#parked--;
        this.#held.add(found);
        if (this.#open > this.#maxFds) this.relieve();
      } else if (found.descriptor !== fd) close(fd);
      found.nlookup++;
      return found;
    }
    const inode = new Inode(this, this.#base + ++this.#next, fd, stat.mode & 0o170000, key);
    this.#byId.set(inode.nodeid, inode);
    this.#byKey.set(key, inode);
    this.#held.add(inode);
    if (this.#open > this.#maxFds) this.relieve();
    return inode;
  }

  /**
   * Parks the least recently used inodes that the current request has not
   * used, down to 7/8 of the budget (at least one when `emfile`: the process
   * ran out of descriptors whatever the budget); true when any was parked.
   */
  relieve(emfile = false): boolean {
    if (this.#disabled !== undefined) return false;
    const goal = Math.floor(this.#maxFds * 7 / 8);
    let excess = emfile ? Math.max(1, this.#open - goal, this.#open >> 4) : this.#open - goal;
    if (excess <= 0) return false;
    // only the inodes holding a descriptor are looked at, however many are parked
    const candidates: Inode[] = [];
    for (const inode of this.#held) {
      if (inode.parkable && inode.used !== this.clock) candidates.push(inode);
    }
    candidates.sort((x, y) => x.used - y.used);
    const wanted = excess;
    for (const inode of candidates) {
      if (excess === 0 || this.#disabled !== undefined) break;
      if (this.#park(inode)) excess--;
    }
    return excess < wanted;
  }

  #park(inode: Inode): boolean {
    let handle: Uint8Array;
    try {
      handle = nameToHandleAt(inode.descriptor);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      inode.parkable = false;
      return false;
    }
    const anchor = this.#anchor(inode, handle);
    if (anchor === undefined) return false;
    if (anchor < 0) {
      inode.parkable = false;
      return false;
    }
    close(inode.descriptor);
    inode.descriptor = -1;
    inode.handle = handle;
    this.#held.delete(inode);
    this.#parked++;
    this.#parks++;
    return true;
  }

  /**
   * The descriptor `open_by_handle_at` takes for the inode's file system,
   * opened from a directory held on it the first time and proved by
   * reopening `inode` by its `handle`; -1 when the file system cannot be
   * parked, undefined when that cannot be told now (no directory of it held,
   * or no descriptor to spare).
   */
  #anchor(inode: Inode, handle: Uint8Array): number | undefined {
    const dev = devicePrefix(inode.key);
    const known = this.#anchors.get(dev);
    if (known !== undefined) return known;
    let dir: Inode | undefined = inode.type === S_IFDIR ? inode : undefined;
    if (dir === undefined) {
      for (const i of this.#held) {
        if (i.type === S_IFDIR && i.key.startsWith(dev)) {
          dir = i;
          break;
        }
      }
    }
    if (dir === undefined) return undefined;
    let anchor = -1;
    try {
      anchor = openat(dir.descriptor, ".", { flags: O_RDONLY | O_DIRECTORY });
      close(openByHandleAt(anchor, handle, O_PATH));
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      if (anchor >= 0) close(anchor);
      if (e.errno === Errno.EMFILE || e.errno === Errno.ENFILE) return undefined;
      if (e.errno === Errno.EPERM) {
        // no CAP_DAC_READ_SEARCH: nothing can be reopened by handle
        this.#disabled = `open_by_handle_at: ${e.message}`;
        return -1;
      }
      anchor = -1;
    }
    this.#anchors.set(dev, anchor);
    return anchor;
  }

  /** Reopens a parked inode's descriptor from its file handle (see {@linkcode Inode.fd}). */
  unpark(inode: Inode): number {
    const anchor = this.#anchors.get(devicePrefix(inode.key));
    if (inode.handle === null || anchor === undefined || anchor < 0) {
      fail("open_by_handle_at", Errno.ESTALE, inode.key);
    }
    let fd: number;
    try {
      fd = openByHandleAt(anchor, inode.handle, O_PATH);
    } catch (e) {
      if (!(e instanceof SysError) || e.errno !== Errno.EMFILE || !this.relieve(true)) throw e;
      fd = openByHandleAt(anchor, inode.handle, O_PATH);
    }
    inode.descriptor = fd;
    inode.handle = null;
    this.#parked--;
    this.#held.add(inode);
    this.#unparks++;
    if (this.#open > this.#maxFds) this.relieve();
    return fd;
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
    if (inode.descriptor >= 0) {
      close(inode.descriptor);
      inode.descriptor = -1;
      this.#held.delete(inode);
    } else {
      inode.handle = null;
      this.#parked--;
    }
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
    this.#held.clear();
    this.#held.add(this.root);
    this.#parked = 0;
    this.#base = randomTag() * 0x100000000;
    this.#next = 0;
  }

  /** Closes every descriptor, the root's included. */
  close(): void {
    this.reset();
    this.#byId.clear();
    this.#byKey.clear();
    for (const anchor of this.#anchors.values()) if (anchor >= 0) close(anchor);
    this.#anchors.clear();
    close(this.root.descriptor);
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

/** The device part of an {@linkcode identity} key, with its colon (`"2049:"`). */
export function devicePrefix(key: string): string {
  return key.slice(0, key.indexOf(":") + 1);
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
