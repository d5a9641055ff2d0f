/**
 * eventfd(2): the kick, call and error notifiers of vhost-user. A write adds
 * to the 64-bit counter and makes the fd readable; a read returns the counter
 * and resets it (or decrements by one with {@linkcode EFD_SEMAPHORE}).
 *
 * @module
 */
import { check, errno, openLibc, SysError } from "./libc.ts";

/** Close-on-exec. */
export const EFD_CLOEXEC = 0o2000000;
/** Non-blocking reads and writes. */
export const EFD_NONBLOCK = 0o4000;
/** Reads return 1 and decrement instead of returning and clearing the counter. */
export const EFD_SEMAPHORE = 1;

const EINTR = 4;
const EAGAIN = 11;

const libc = openLibc(
  {
    eventfd: { parameters: ["u32", "i32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  } as const,
);

// per-thread scratch counter buffer
const counter = new Uint8Array(8);
const counterView = new DataView(counter.buffer);

/** Options of {@linkcode eventfd}. */
export interface EventfdOptions {
  /** Initial counter value (default 0). */
  initval?: number;
  /** EFD_NONBLOCK (default true). */
  nonblocking?: boolean;
  /** EFD_CLOEXEC (default true). */
  cloexec?: boolean;
  /** EFD_SEMAPHORE (default false). */
  semaphore?: boolean;
}

/**
 * A new eventfd.
 *
 * @example
 * ```ts
 * import { eventfd, eventfdRead, eventfdWrite } from "./eventfd.ts";
 * const fd = eventfd();
 * eventfdWrite(fd);
 * console.log(eventfdRead(fd)); // 1n
 * ```
 */
export function eventfd(options: EventfdOptions = {}): number {
  const flags = ((options.cloexec ?? true) ? EFD_CLOEXEC : 0) |
    ((options.nonblocking ?? true) ? EFD_NONBLOCK : 0) |
    (options.semaphore ? EFD_SEMAPHORE : 0);
  return check("eventfd", libc.eventfd(options.initval ?? 0, flags));
}

/**
 * Signals: adds `value` (default 1) to the counter. On a non-blocking fd
 * whose counter would overflow, returns false instead of blocking.
 */
export function eventfdWrite(fd: number, value: bigint = 1n): boolean {
  counterView.setBigUint64(0, value, true);
  for (;;) {
    const r = libc.write(fd, counter, 8n);
    if (r === 8n) return true;
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return false;
    throw new SysError("write", e, "eventfd");
  }
}

/**
 * Drains: returns the counter and resets it (1 and a decrement with
 * EFD_SEMAPHORE). On a non-blocking fd with a zero counter returns 0n;
 * a blocking fd waits for a signal.
 */
export function eventfdRead(fd: number): bigint {
  for (;;) {
    const r = libc.read(fd, counter, 8n);
    if (r === 8n) return counterView.getBigUint64(0, true);
    const e = errno();
    if (e === EINTR) continue;
    if (e === EAGAIN) return 0n;
    throw new SysError("read", e, "eventfd");
  }
}
