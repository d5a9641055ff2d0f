/**
 * Shared memory over FFI: memfd_create + ftruncate to make guest-memory-like
 * files, mmap/munmap to see them as `Uint8Array`s (the vhost-user back-end
 * maps each memory region the front-end passes).
 *
 * A mapping's `bytes` point straight at the mapped pages: after
 * {@linkcode munmap}, touching them crashes the process, so drop every view
 * before unmapping.
 *
 * @module
 */
import { check, Errno, errno, openLibc, SysError } from "./libc.ts";

/** Pages may be read. */
export const PROT_READ = 0x1;
/** Pages may be written. */
export const PROT_WRITE = 0x2;
/** Share the mapping with every other mapper of the file. */
export const MAP_SHARED = 0x01;
/** Copy-on-write private mapping. */
export const MAP_PRIVATE = 0x02;
/** Populate (prefault) the pages. */
export const MAP_POPULATE = 0x8000;
/** memfd_create: close-on-exec. */
export const MFD_CLOEXEC = 0x1;
/** memfd_create: allow seals. */
export const MFD_ALLOW_SEALING = 0x2;

const MAP_FAILED = 0xffffffffffffffffn;

const libc = openLibc(
  {
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
    memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
    ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  } as const,
);

/** A live mapping. */
export interface Mapping {
  /** The mapped bytes. */
  bytes: Uint8Array;
  /** The mapping's address. */
  pointer: Deno.PointerObject;
  /** Its length in bytes. */
  size: number;
}

/** Options of {@linkcode mmap}. */
export interface MmapOptions {
  /** Offset in the file, a multiple of the page size (default 0). */
  offset?: number | bigint;
  /** PROT_* bits (default PROT_READ | PROT_WRITE). */
  prot?: number;
  /** MAP_* bits (default MAP_SHARED). */
  flags?: number;
}

/**
 * Maps `size` bytes of `fd`.
 *
 * @example
 * ```ts
 * import { close } from "./socket.ts";
 * import { ftruncate, memfdCreate, mmap, munmap } from "./mmap.ts";
 * const fd = memfdCreate("guest-ram");
 * ftruncate(fd, 1 << 20);
 * const m = mmap(fd, 1 << 20);
 * m.bytes[0] = 42;
 * munmap(m);
 * close(fd);
 * ```
 */
export function mmap(fd: number, size: number, options: MmapOptions = {}): Mapping {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new SysError("mmap", Errno.EINVAL, `size ${size}`);
  }
  const p = libc.mmap(
    null,
    BigInt(size),
    options.prot ?? (PROT_READ | PROT_WRITE),
    options.flags ?? MAP_SHARED,
    fd,
    BigInt(options.offset ?? 0),
  );
  if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) {
    throw new SysError("mmap", errno(), `fd ${fd} size ${size}`);
  }
  const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, size));
  return { bytes, pointer: p, size };
}

/** Unmaps `mapping` (its `bytes` must no longer be used). */
export function munmap(mapping: Mapping): void {
  check("munmap", libc.munmap(mapping.pointer, BigInt(mapping.size)));
}

/** Options of {@linkcode memfdCreate}. */
export interface MemfdOptions {
  /** MFD_CLOEXEC (default true). */
  cloexec?: boolean;
  /** MFD_ALLOW_SEALING (default false). */
  allowSealing?: boolean;
}

/** An anonymous memory file (`name` shows in /proc/PID/fd). Size it with {@linkcode ftruncate}. */
export function memfdCreate(name: string, options: MemfdOptions = {}): number {
  const flags = ((options.cloexec ?? true) ? MFD_CLOEXEC : 0) |
    (options.allowSealing ? MFD_ALLOW_SEALING : 0);
  return check(
    "memfd_create",
    libc.memfd_create(new TextEncoder().encode(`${name}\0`), flags),
    name,
  );
}

/** Sets the size of file `fd`. */
export function ftruncate(fd: number, size: number | bigint): void {
  check("ftruncate", libc.ftruncate(fd, BigInt(size)));
}
