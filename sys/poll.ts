/**
 * poll(2) over several fds: {@linkcode poll} is synchronous (for the Worker
 * hot loops), {@linkcode pollAsync} runs the same call on Deno's blocking
 * thread pool (FFI `nonblocking: true`) and resolves when it returns, so the
 * main thread's event loop keeps running while it waits.
 *
 * @module
 */
import { errno, openLibc, SysError } from "./libc.ts";

/** There is data to read. */
export const POLLIN = 0x1;
/** Urgent data. */
export const POLLPRI = 0x2;
/** Writing will not block. */
export const POLLOUT = 0x4;
/** Error condition (output only). */
export const POLLERR = 0x8;
/** Hung up (output only). */
export const POLLHUP = 0x10;
/** Invalid fd (output only). */
export const POLLNVAL = 0x20;
/** Peer closed its writing half (stream sockets). */
export const POLLRDHUP = 0x2000;

const EINTR = 4;

const libc = openLibc(
  {
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    poll_nb: {
      name: "poll",
      parameters: ["buffer", "u64", "i32"],
      result: "i32",
      nonblocking: true,
    },
    sched_yield: { parameters: [], result: "i32" },
  } as const,
);

/**
 * `sched_yield(2)`: lets another thread that is ready on this core run first
 * (a spinning poller's way of not standing in front of the thread it waits for).
 */
export function schedYield(): void {
  libc.sched_yield();
}

/** One entry of the poll set. */
export interface PollFd {
  /** The fd to watch. */
  fd: number;
  /** Events to wait for ({@linkcode POLLIN}, {@linkcode POLLOUT}, ...). */
  events: number;
  /** Set by the call: the events that occurred (0 when none). */
  revents?: number;
}

function pack(fds: readonly PollFd[]): Uint8Array {
  const buf = new Uint8Array(fds.length * 8);
  const v = new DataView(buf.buffer);
  fds.forEach((p, i) => {
    v.setInt32(i * 8, p.fd, true);
    v.setInt16(i * 8 + 4, p.events, true);
  });
  return buf;
}

function unpack(buf: Uint8Array, fds: PollFd[]) {
  const v = new DataView(buf.buffer);
  fds.forEach((p, i) => {
    p.revents = v.getUint16(i * 8 + 6, true);
  });
}

/**
 * Waits until one of `fds` is ready or `timeoutMs` passes (-1: forever, 0:
 * just look). Fills each entry's `revents`; returns how many entries have
 * events (0 on timeout). EINTR restarts the wait with the full timeout.
 *
 * @example
 * ```ts
 * import { poll, POLLIN } from "./poll.ts";
 * const set = [{ fd: 0, events: POLLIN }];
 * if (poll(set, 0) > 0) console.log("stdin readable", set[0].revents);
 * ```
 */
export function poll(fds: PollFd[], timeoutMs: number): number {
  const buf = pack(fds);
  for (;;) {
    const r = libc.poll(buf, BigInt(fds.length), timeoutMs);
    if (r >= 0) {
      unpack(buf, fds);
      return r;
    }
    const e = errno();
    if (e !== EINTR) throw new SysError("poll", e);
  }
}

/**
 * {@linkcode poll} without blocking the calling thread's event loop: the
 * call runs on a helper thread and the promise resolves with its result.
 * A pending call cannot be cancelled; give it a timeout, or include an
 * eventfd in the set and signal it to wake the wait early.
 */
export async function pollAsync(fds: PollFd[], timeoutMs: number): Promise<number> {
  const buf = pack(fds);
  for (;;) {
    const r = await libc.poll_nb(buf, BigInt(fds.length), timeoutMs);
    if (r >= 0) {
      unpack(buf, fds);
      return r;
    }
    // errno belongs to the helper thread: repeat the call here, without waiting, to learn it
    const again = libc.poll(buf, BigInt(fds.length), 0);
    if (again > 0) {
      unpack(buf, fds);
      return again;
    }
    if (again < 0 && errno() !== EINTR) throw new SysError("poll", errno());
    if (again === 0 && timeoutMs === 0) {
      unpack(buf, fds);
      return 0;
    }
  }
}

/**
 * A fixed set of fds polled again and again without allocating: the pollfd
 * array is packed once, so a wait costs the system call alone (packing a
 * fresh array per call, as {@linkcode poll} does, costs several times the
 * call itself). For loops that wait on the same fds at request rates.
 *
 * @example
 * ```ts
 * import { PollSet, POLLIN } from "./poll.ts";
 * const set = new PollSet([0], POLLIN);
 * if (set.wait(0) > 0 && set.ready(0)) console.log("stdin readable");
 * ```
 */
export class PollSet {
  /** The fds, in the order given. */
  readonly fds: readonly number[];
  readonly #buf: Uint8Array;
  readonly #count: bigint;

  /** Watches every fd of `fds` for `events` ({@linkcode POLLIN} by default). */
  constructor(fds: readonly number[], events: number = POLLIN) {
    this.fds = [...fds];
    this.#count = BigInt(fds.length);
    this.#buf = new Uint8Array(Math.max(1, fds.length) * 8);
    const v = new DataView(this.#buf.buffer);
    fds.forEach((fd, i) => {
      v.setInt32(i * 8, fd, true);
      v.setInt16(i * 8 + 4, events, true);
    });
  }

  /**
   * Waits like {@linkcode poll} (-1: forever, 0: just look); returns how
   * many fds have events. EINTR restarts the wait.
   */
  wait(timeoutMs: number): number {
    for (;;) {
      const r = libc.poll(this.#buf, this.#count, timeoutMs);
      if (r >= 0) return r;
      const e = errno();
      if (e !== EINTR) throw new SysError("poll", e);
    }
  }

  /** The events of fd number `i` after the last {@linkcode PollSet.wait} (0: none). */
  revents(i: number): number {
    return this.#buf[i * 8 + 6] | (this.#buf[i * 8 + 7] << 8);
  }

  /** True when fd number `i` had any event in the last wait. */
  ready(i: number): boolean {
    return this.revents(i) !== 0;
  }
}

/** True when `fd` becomes readable (or hung up) within `timeoutMs`; synchronous. */
export function waitReadable(fd: number, timeoutMs: number): boolean {
  return poll([{ fd, events: POLLIN }], timeoutMs) > 0;
}

/** True when `fd` becomes readable (or hung up) within `timeoutMs`, without blocking the event loop. */
export async function waitReadableAsync(fd: number, timeoutMs: number): Promise<boolean> {
  return (await pollAsync([{ fd, events: POLLIN }], timeoutMs)) > 0;
}
