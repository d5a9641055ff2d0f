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

/** The calling thread's current `errno`. */
export function errno(): number {
  const p = errnoLib.__errno_location();
  if (p === null) return 0;
  return new Deno.UnsafePointerView(p).getInt32(0);
}

/** Linux errno names by number (x86_64 values), for messages and FUSE replies. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  33: "EDOM",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  37: "ENOLCK",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  42: "ENOMSG",
  43: "EIDRM",
  61: "ENODATA",
  62: "ETIME",
  71: "EPROTO",
  74: "EBADMSG",
  75: "EOVERFLOW",
  84: "EILSEQ",
  88: "ENOTSOCK",
  90: "EMSGSIZE",
  95: "EOPNOTSUPP",
  98: "EADDRINUSE",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  114: "EALREADY",
  115: "EINPROGRESS",
  116: "ESTALE",
  122: "EDQUOT",
  125: "ECANCELED",
};

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
