/**
 * The host kernel's FUSE device: open `/dev/fuse`, mount(2) a FUSE file
 * system served through it, umount2(2), and read/write whole messages. The
 * read is an FFI call marked `nonblocking`, so it waits on a Deno worker
 * thread and the event loop keeps running (a server can spawn `ls` on its
 * own mount). A reader Worker uses the blocking forms instead
 * ({@linkcode readMessageSync}, {@linkcode writeMessageSync},
 * {@linkcode pollReadable}), which report the errno rather than throw.
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
    readSync: { name: "read", parameters: ["i32", "buffer", "usize"], result: "isize" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    dup2: { parameters: ["i32", "i32"], result: "i32" },
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

const POLLIN = 1;

/**
 * One blocking read(2) of a whole message into `buffer`: the byte count, or
 * the negative errno. Blocks the calling thread: call it from a Worker.
 */
export function readMessageSync(fd: number, buffer: Uint8Array): number {
  const n = Number(libc.readSync(fd, buffer, BigInt(buffer.length)));
  return n < 0 ? -errno() : n;
}

/** One write(2) of a whole message: the byte count, or the negative errno. */
export function writeMessageSync(fd: number, message: Uint8Array): number {
  const n = Number(libc.write(fd, message, BigInt(message.length)));
  return n < 0 ? -errno() : n;
}

const pollBuffer = new Uint8Array(8);
const pollView = new DataView(pollBuffer.buffer);

/** poll(2) for readability of one fd: true when readable (or hung up), false on timeout or EINTR. */
export function pollReadable(fd: number, timeoutMs: number): boolean {
  pollView.setInt32(0, fd, true);
  pollView.setInt16(4, POLLIN, true);
  pollView.setInt16(6, 0, true);
  const r = libc.poll(pollBuffer, 1n, timeoutMs);
  if (r < 0) {
    const e = errno();
    if (e === 4) return false;
    throw new SysError("poll", e);
  }
  return r > 0;
}

/**
 * Mounts the fuse control file system on /sys/fs/fuse/connections unless it
 * is there; true when it is usable.
 */
export function ensureFusectl(): boolean {
  const dir = "/sys/fs/fuse/connections";
  try {
    for (const _ of Deno.readDirSync(dir)) return true;
  } catch {
    return false;
  }
  const r = libc.mount(cstr("fusectl"), cstr(dir), cstr("fusectl"), 0n, null);
  return r === 0 || errno() === 16; // EBUSY: already mounted
}

/**
 * Points stdin, stdout and stderr at /dev/null, as a daemon does once it has
 * started, together with every other descriptor of this process that refers to
 * the same pipe or socket (the runtime keeps duplicates of its stdio): a
 * background server must not hold its starter's pipes open, nor die writing
 * to them once the starter is gone.
 */
export function detachStdio(): void {
  const link = (fd: string) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined;
    }
  };
  const stdio = new Set(
    ["0", "1", "2"].map(link).filter((l): l is string =>
      l !== undefined && (l.startsWith("pipe:") || l.startsWith("socket:"))
    ),
  );
  const targets = [0, 1, 2];
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(e.name);
    const l = link(e.name);
    if (fd > 2 && l !== undefined && stdio.has(l)) targets.push(fd);
  }
  const fd = libc.open(cstr("/dev/null"), 2, /* O_RDWR */ 0);
  if (fd < 0) throw new SysError("open", errno(), "/dev/null");
  for (const target of targets) libc.dup2(fd, target);
  if (!targets.includes(fd)) libc.close(fd);
}
