/**
 * The host kernel's FUSE device: open `/dev/fuse`, mount(2) a FUSE file
 * system served through it, umount2(2), and read/write whole messages. The
 * read is an FFI call marked `nonblocking`, so it waits on a Deno worker
 * thread and the event loop keeps running (a server can spawn `ls` on its
 * own mount).
 *
 * @example
 * ```ts ignore
 * import { mountFuse, openFuseDevice, readFuseMessage, unmount } from "./fuse_dev.ts";
 * const fd = openFuseDevice();
 * mountFuse(fd, "/mnt/x");
 * const buf = new Uint8Array(1 << 20);
 * const n = await readFuseMessage(fd, buf); // the kernel's INIT request
 * unmount("/mnt/x");
 * ```
 *
 * @module
 */
import { check, errno, openLibc, SysError } from "./libc.ts";

const libc = openLibc(
  {
    open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
    umount2: { parameters: ["buffer", "i32"], result: "i32" },
  } as const,
);

const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
/** umount2(2) flag: detach now, clean up when no longer busy. */
export const MNT_DETACH = 2;
/** mount(2) flag: ignore set-user-id bits. */
export const MS_NOSUID = 2;
/** mount(2) flag: no device files. */
export const MS_NODEV = 4;

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

/** Opens `/dev/fuse` read-write and close-on-exec; returns the file descriptor. */
export function openFuseDevice(path = "/dev/fuse"): number {
  return check("open", libc.open(cstr(path), O_RDWR | O_CLOEXEC, 0), path);
}

/** Closes a descriptor from {@linkcode openFuseDevice}. */
export function closeFuseDevice(fd: number): void {
  libc.close(fd);
}

/** Options for {@linkcode mountFuse}. */
export interface MountFuseOptions {
  /** Mode of the root directory as the kernel option wants it (octal text, default `40000`). */
  rootmode?: string;
  /** Owner of the mount (default 0). */
  userId?: number;
  /** Group of the mount (default 0). */
  groupId?: number;
  /** Extra comma-separated options (`allow_other,default_permissions`). */
  extra?: string;
  /** mount(2) flags (default MS_NOSUID | MS_NODEV). */
  flags?: number;
  /** Source shown in /proc/mounts (default `ringside`). */
  source?: string;
  /** Type after `fuse.` (default `ringside`). */
  subtype?: string;
}

/**
 * Mounts a FUSE file system served through `fd` on `mountpoint` (the kernel
 * then queues INIT on the device). Throws {@linkcode SysError} on failure.
 */
export function mountFuse(fd: number, mountpoint: string, options: MountFuseOptions = {}): void {
  let data = `fd=${fd},rootmode=${options.rootmode ?? "40000"},user_id=${options.userId ?? 0},` +
    `group_id=${options.groupId ?? 0}`;
  if (options.extra) data += `,${options.extra}`;
  const r = libc.mount(
    cstr(options.source ?? "ringside"),
    cstr(mountpoint),
    cstr(`fuse.${options.subtype ?? "ringside"}`),
    BigInt(options.flags ?? (MS_NOSUID | MS_NODEV)),
    cstr(data),
  );
  check("mount", r, mountpoint);
}

/** Options for {@linkcode unmount}. */
export interface UnmountOptions {
  /** umount2 flags (default MNT_DETACH). */
  flags?: number;
}

/** umount2(2); returns 0, or the errno (EINVAL when not mounted) instead of throwing. */
export function unmount(mountpoint: string, options: UnmountOptions = {}): number {
  return libc.umount2(cstr(mountpoint), options.flags ?? MNT_DETACH) < 0 ? errno() : 0;
}

/**
 * Reads one whole message into `buffer` (which must hold the largest request:
 * max_write plus 4 KiB) without blocking the event loop. Returns the byte
 * count, or -1 when the read failed (the connection was aborted or unmounted:
 * ENODEV; the errno itself stays on the worker thread).
 */
export async function readFuseMessage(fd: number, buffer: Uint8Array): Promise<number> {
  return Number(await libc.read(fd, buffer, BigInt(buffer.length)));
}

/** Writes one whole message; throws {@linkcode SysError} when the kernel rejects it (EINVAL for a bad reply, ENOENT for a stale unique). */
export function writeFuseMessage(fd: number, message: Uint8Array): void {
  const n = Number(libc.write(fd, message, BigInt(message.length)));
  if (n < 0) throw new SysError("write", errno(), "/dev/fuse");
}
