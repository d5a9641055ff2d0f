/**
 * The one place that opens libc: every other `sys/` module declares the
 * symbols it needs and gets them through {@linkcode openLibc}, and reads
 * `errno` through {@linkcode errno} right after a failed call (on the same
 * thread, before any other FFI call).
 *
 * @module
 */

const LIBC_PATHS = [
  "libc.so.6",
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
];

const errnoLib = openLibc(
  {
    __errno_location: { parameters: [], result: "pointer" },
    strerror: { parameters: ["i32"], result: "pointer" },
  } as const,
);

/**
 * Opens libc with the given symbol table (one dlopen per caller; the dynamic
 * loader shares the underlying library).
 */
export function openLibc<const S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] {
  let last: unknown;
  for (const path of LIBC_PATHS) {
    try {
      return Deno.dlopen(path, symbols).symbols;
    } catch (e) {
      last = e;
    }
  }
  throw new Error(`cannot open libc: ${last instanceof Error ? last.message : String(last)}`);
}

/**
 * This thread's `errno` as memory (each Worker loads its own copy of this
 * module, so the cell is its thread's). Reading it is a plain load: an FFI
 * call or a `Deno.UnsafePointerView` read in between would run the
 * runtime's own code, whose lock waits can set errno first (seen: one
 * ENOENT in a million read back as EAGAIN with three threads calling libc).
 */
const errnoCell = (() => {
  const p = errnoLib.__errno_location();
  if (p === null) throw new Error("libc gave no errno location");
  return new Int32Array(Deno.UnsafePointerView.getArrayBuffer(p, 4));
})();

/** The calling thread's current `errno`. */
export function errno(): number {
  return errnoCell[0];
}

/** Linux errno values by name (x86_64), for messages, FUSE replies and assertions. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ENODATA: 61,
  ETIME: 62,
  EPROTO: 71,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EDQUOT: 122,
  ECANCELED: 125,
} as const;

/** Linux errno names by number: {@linkcode Errno} the other way round. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Errno).map(([name, n]) => [n, name]),
);

/** The symbolic name of `errno` value `n` (`ENOENT`), or `E<n>` when unknown. */
export function errnoName(n: number): string {
  return ERRNO_NAMES[n] ?? `E${n}`;
}

/** A failed system call: the call's name, the errno and its name. */
export class SysError extends Error {
  /** The positive errno value. */
  readonly errno: number;
  /** The errno's symbolic name (`ENOENT`). */
  readonly code: string;
  /** The failed call (`openat`). */
  readonly call: string;
  /** Builds the error for `call` failing with `errnoValue`; `detail` names the input (a path). */
  constructor(call: string, errnoValue: number, detail?: string) {
    const p = errnoLib.strerror(errnoValue);
    const text = p === null ? "" : new Deno.UnsafePointerView(p).getCString();
    super(`${call}${detail ? ` ${detail}` : ""}: ${errnoName(errnoValue)} (${text})`);
    this.name = "SysError";
    this.errno = errnoValue;
    this.code = errnoName(errnoValue);
    this.call = call;
  }
}

/**
 * Throws a {@linkcode SysError} with the current errno when `result` is
 * negative (libc's -1 convention); returns `result` otherwise.
 */
export function check<T extends number | bigint>(call: string, result: T, detail?: string): T {
  if (result < 0) throw new SysError(call, errno(), detail);
  return result;
}
