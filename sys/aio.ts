/**
 * Linux native asynchronous I/O (io_setup(2), io_submit(2), io_getevents(2)):
 * writes handed to the kernel without waiting for them. With `O_DIRECT` on a
 * block-device file system, io_submit returns once the I/O is queued, so a
 * thread that cannot block (a virtqueue Worker) can still write hundreds of
 * MB/s to disk. Without `O_DIRECT`, or where the file system has to wait
 * (ext4 waits for a write that extends the file: preallocate with
 * `fallocate`), io_submit does the whole write before it returns.
 *
 * A submitted buffer belongs to the kernel until its completion is reaped:
 * keep a reference to it and do not touch it until then.
 *
 * @example
 * ```ts
 * import { AioContext } from "./aio.ts";
 * import * as fs from "./fs.ts";
 * const fd = fs.openat(fs.AT_FDCWD, "/var/tmp/x", { flags: fs.O_RDWR | fs.O_CREAT | fs.O_DIRECT, mode: 0o644 });
 * const aio = new AioContext(8);
 * const page = fs.alignedBytes(4096);
 * aio.submitWrite(fd, page, 0, 1);
 * const done = aio.reap(1); // [{ tag: 1, result: 4096 }]
 * aio.destroy();
 * ```
 *
 * @module
 */
import { check, Errno, errno, openLibc, SysError } from "./libc.ts";

// x86_64 system call numbers (glibc does not wrap the native AIO calls)
const SYS_io_setup = 206n;
const SYS_io_destroy = 207n;
const SYS_io_getevents = 208n;
const SYS_io_submit = 209n;

/** `IOCB_CMD_PWRITE` of linux/aio_abi.h. */
const IOCB_CMD_PWRITE = 1;
/** sizeof(struct iocb) and sizeof(struct io_event) on 64-bit Linux. */
const IOCB_SIZE = 64;
const IO_EVENT_SIZE = 32;

const lib = openLibc(
  {
    sys_io_setup: { name: "syscall", parameters: ["i64", "u32", "buffer"], result: "i64" },
    sys_io_destroy: { name: "syscall", parameters: ["i64", "u64"], result: "i64" },
    sys_io_submit: {
      name: "syscall",
      parameters: ["i64", "u64", "i64", "buffer"],
      result: "i64",
    },
    sys_io_getevents: {
      name: "syscall",
      parameters: ["i64", "u64", "i64", "i64", "buffer", "pointer"],
      result: "i64",
    },
  } as const,
);

/** One reaped completion. */
export interface AioCompletion {
  /** The tag given to {@linkcode AioContext.submitWrite}. */
  tag: number;
  /** Bytes written, or a negative errno. */
  result: number;
}

/**
 * An AIO context with room for `depth` requests in flight. Requests are
 * identified by a numeric tag of the caller's; each submission is one
 * io_submit of one iocb (the iocb is copied by the kernel at submission, so
 * its memory is reused at once).
 */
export class AioContext {
  readonly depth: number;
  #ctx: bigint;
  #inFlight = 0;
  readonly #iocb = new Uint8Array(IOCB_SIZE);
  readonly #iocbView = new DataView(this.#iocb.buffer);
  readonly #iocbPtrs = new BigUint64Array(1);
  readonly #events: Uint8Array;
  readonly #eventsView: DataView;
  #destroyed = false;

  /** io_setup(depth): throws a {@linkcode SysError} where native AIO is unavailable (ENOSYS, EAGAIN). */
  constructor(depth: number) {
    if (!Number.isInteger(depth) || depth < 1 || depth > 4096) {
      throw new RangeError(`AIO depth must be 1..4096, got ${depth}`);
    }
    this.depth = depth;
    const ctx = new BigUint64Array(1);
    const r = Number(lib.sys_io_setup(SYS_io_setup, depth, new Uint8Array(ctx.buffer)));
    check("io_setup", r);
    this.#ctx = ctx[0];
    this.#iocbPtrs[0] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#iocb)));
    this.#events = new Uint8Array(IO_EVENT_SIZE * depth);
    this.#eventsView = new DataView(this.#events.buffer);
  }

  /** Requests submitted and not yet reaped. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Submits a write of `buf` at `offset` of `fd`, tagged `tag` (an unsigned
   * 32-bit number). With O_DIRECT, `buf`, its length and `offset` must be
   * aligned as the device asks (4096 is safe). Throws when the context is
   * full ({@linkcode reap} first) or the kernel refuses the request.
   */
  submitWrite(fd: number, buf: Uint8Array, offset: number, tag: number): void {
    if (this.#destroyed) throw new Error("AioContext: submit after destroy()");
    if (this.#inFlight >= this.depth) {
      throw new SysError("io_submit", Errno.EAGAIN, `${this.#inFlight} requests already in flight`);
    }
    const v = this.#iocbView;
    this.#iocb.fill(0);
    v.setUint32(0, tag >>> 0, true); // aio_data
    v.setUint16(16, IOCB_CMD_PWRITE, true); // aio_lio_opcode
    v.setUint32(20, fd, true); // aio_fildes
    const addr = buf.byteLength === 0
      ? 0n
      : BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buf)));
    v.setBigUint64(24, addr, true); // aio_buf
    v.setBigUint64(32, BigInt(buf.byteLength), true); // aio_nbytes
    v.setBigInt64(40, BigInt(offset), true); // aio_offset
    for (;;) {
      const r = Number(
        lib.sys_io_submit(SYS_io_submit, this.#ctx, 1n, new Uint8Array(this.#iocbPtrs.buffer)),
      );
      if (r === 1) break;
      const e = r < 0 ? errno() : Errno.EAGAIN;
      if (e === Errno.EINTR) continue;
      throw new SysError("io_submit", e);
    }
    this.#inFlight++;
  }

  /**
   * Reaps completions: waits until at least `min` have arrived (0: only those
   * already there), returns them in the order the kernel reported them.
   */
  reap(min = 0): AioCompletion[] {
    const out: AioCompletion[] = [];
    if (this.#inFlight === 0) return out;
    const want = Math.min(min, this.#inFlight);
    for (;;) {
      const r = Number(
        lib.sys_io_getevents(
          SYS_io_getevents,
          this.#ctx,
          BigInt(Math.max(0, want - out.length)),
          BigInt(this.depth),
          this.#events,
          null,
        ),
      );
      if (r < 0) {
        const e = errno();
        if (e === Errno.EINTR) continue;
        throw new SysError("io_getevents", e);
      }
      const v = this.#eventsView;
      for (let i = 0; i < r; i++) {
        const o = i * IO_EVENT_SIZE;
        out.push({ tag: v.getUint32(o, true), result: Number(v.getBigInt64(o + 16, true)) });
      }
      this.#inFlight -= r;
      if (out.length >= want) return out;
    }
  }

  /** Waits for everything in flight, then io_destroy (idempotent). */
  destroy(): AioCompletion[] {
    if (this.#destroyed) return [];
    const rest = this.reap(this.#inFlight);
    this.#destroyed = true;
    lib.sys_io_destroy(SYS_io_destroy, this.#ctx);
    return rest;
  }
}
