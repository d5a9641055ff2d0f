/**
 * Large `preadv`s spread over two threads. On this class of host one thread
 * copying page-cache pages into mapped memory runs far below what two do (a
 * 1 MiB read from tmpfs into a memfd, measured here: ~130 µs on one thread,
 * ~45 µs on two spinning C threads, ~80 µs back to back with this module),
 * and a virtio-fs guest reading with cache=none waits for every such copy.
 * Writes gain nothing this way: a file's writes hold its inode lock. That
 * was measured without a guest; behind a real TCG guest on a 2-CPU VM host
 * the split copy of a 1 MiB cache=never READ took 119-141 µs against
 * 82-113 µs as one `preadv` (the guest's vCPU and QEMU's main loop want the
 * second CPU), so the vhost-user back-end splits only with `--read-threads 2`.
 *
 * {@linkcode SplitReadIoVecList} is an {@linkcode IoVecList} whose
 * {@linkcode IoVecList.readAt} cuts a large read into chunks of about 64 KiB
 * that the calling thread and a helper Worker claim one at a time from
 * shared memory. The caller never waits for the helper to wake: it claims
 * chunks itself from the start, and waits only for chunks the helper has
 * already claimed. A sleeping helper (a futex wake is tens of µs on a VM)
 * joins late or not at all, and the read is then no slower than one
 * `preadv`; after each read the helper watches for the next one for 1 ms,
 * so a stream of large reads finds it awake. The result is what one `preadv`
 * of the whole list would return: the bytes read up to the first short
 * chunk, or the first chunk's error.
 *
 * @example
 * ```ts
 * import { SplitReadIoVecList } from "./split_read.ts";
 * const iov = new SplitReadIoVecList();
 * // iov.add(address, length) for each mapped buffer, then:
 * // const n = iov.readAt(fd, 0);
 * iov.close();
 * ```
 *
 * @module
 */
import { IOV_MAX, IoVecList } from "./fs.ts";
import { SysError } from "./libc.ts";
import {
  CHUNK_BYTES,
  CLAIM,
  claimChunk,
  CLOSED,
  FD,
  LAYOUT_BYTES,
  layoutOf,
  MAX_CHUNKS,
  N,
  readChunk,
  STOP,
  WAKE,
} from "./_split_read_shared.ts";

/** Reads shorter than this stay one `preadv`: handing over costs more than it saves. */
export const SPLIT_READ_MIN = 4 * CHUNK_BYTES;

/** Options of {@linkcode SplitReadIoVecList}. */
export interface SplitReadOptions {
  /** Start the helper thread (default: when the machine has more than one CPU). */
  helper?: boolean;
}

/**
 * An {@linkcode IoVecList} in shared memory whose reads of at least
 * {@linkcode SPLIT_READ_MIN} bytes are shared with a helper thread.
 */
export class SplitReadIoVecList extends IoVecList {
  readonly #ctl: Int32Array;
  readonly #first: Int32Array;
  readonly #count: Int32Array;
  readonly #done: Int32Array;
  readonly #offset: Float64Array;
  readonly #result: Float64Array;
  readonly #length: number[] = [];
  #helper: Worker | undefined;
  #gen = 0;
  /** Reads split so far, and chunks the helper read (for tests and benchmarks). */
  readonly stats = { splitReads: 0, helperChunks: 0 };

  /** An empty list; the helper starts at once (see {@linkcode SplitReadOptions.helper}). */
  constructor(options: SplitReadOptions = {}) {
    const shared = new SharedArrayBuffer(IOV_MAX * 16 + LAYOUT_BYTES);
    super(shared);
    const l = layoutOf(shared, IOV_MAX * 16);
    this.#ctl = l.ctl;
    this.#first = l.first;
    this.#count = l.count;
    this.#done = l.done;
    this.#offset = l.offset;
    this.#result = l.result;
    Atomics.store(this.#ctl, CLAIM, CLOSED);
    if (options.helper ?? navigator.hardwareConcurrency > 1) {
      const w = new Worker(new URL("./_split_read_worker.ts", import.meta.url), {
        type: "module",
      });
      // a helper that fails leaves every chunk to the caller (it never claims one
      // it does not finish: each claimed chunk's read is one FFI call)
      w.onerror = (e) => {
        e.preventDefault();
        if (this.#helper === w) this.#helper = undefined;
      };
      w.postMessage(shared);
      this.#helper = w;
    }
  }

  /** Whether a helper thread takes part. */
  get helped(): boolean {
    return this.#helper !== undefined;
  }

  /** Stops the helper; reads after this use one thread. */
  close(): void {
    const w = this.#helper;
    if (w === undefined) return;
    this.#helper = undefined;
    Atomics.store(this.#ctl, STOP, 1);
    Atomics.add(this.#ctl, WAKE, 1);
    Atomics.notify(this.#ctl, WAKE);
    w.terminate();
  }

  /** `preadv` of the listed buffers at `offset`, large reads on two threads. */
  override readAt(fd: number, offset: number | bigint): number {
    const at = Number(offset);
    if (
      this.#helper === undefined || this.length < SPLIT_READ_MIN ||
      at + this.length > Number.MAX_SAFE_INTEGER
    ) return super.readAt(fd, offset);
    const n = this.#plan(at);
    if (n < 2) return super.readAt(fd, offset);
    this.stats.splitReads++;
    const gen = this.#gen = (this.#gen + 1) & 0x1f_ffff;
    const ctl = this.#ctl;
    Atomics.store(ctl, FD, fd);
    Atomics.store(ctl, N, n);
    // opening the claim word publishes the job (seq-cst: the plan is visible first)
    Atomics.store(ctl, CLAIM, gen << 10);
    Atomics.add(ctl, WAKE, 1);
    Atomics.notify(ctl, WAKE, 1);
    let mine = 0;
    for (let i = claimChunk(ctl, gen); i >= 0; i = claimChunk(ctl, gen)) {
      readChunk(this.bytes, fd, this.#first[i], this.#count[i], this.#offset[i], this.#result, i);
      Atomics.store(this.#done, i, gen);
      mine++;
    }
    // every chunk is claimed: wait for those the helper is still reading
    for (let i = 0; i < n; i++) {
      for (let spins = 0; Atomics.load(this.#done, i) !== gen; spins++) {
        if (spins > 1000) Atomics.wait(this.#done, i, Atomics.load(this.#done, i), 1);
      }
    }
    Atomics.store(ctl, CLAIM, CLOSED);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const r = this.#result[i];
      if (r < 0) {
        if (total === 0) throw new SysError("preadv", -r);
        break;
      }
      total += r;
      if (r < this.#length[i]) break;
    }
    this.stats.helperChunks += n - mine;
    return total;
  }

  /** Cuts the list into chunks of about CHUNK_BYTES; returns how many. */
  #plan(offset: number): number {
    let n = 0;
    let at = offset;
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < this.count; i++) {
      bytes += this.lengthAt(i);
      if (bytes >= CHUNK_BYTES || i === this.count - 1) {
        if (n === MAX_CHUNKS) return 0;
        this.#first[n] = start;
        this.#count[n] = i + 1 - start;
        this.#offset[n] = at;
        this.#length[n] = bytes;
        n++;
        at += bytes;
        start = i + 1;
        bytes = 0;
      }
    }
    return n;
  }
}
