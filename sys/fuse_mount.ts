/**
 * What a /dev/fuse reader Worker needs beyond sys/fuse_dev.ts (which opens the
 * device, mounts and unmounts): a read(2) that blocks the calling thread and
 * reports the errno (ENODEV on unmount, ENOENT for an aborted request, EINTR),
 * a write(2) that reports the errno instead of throwing, poll(2) on one fd,
 * and mounting the fuse control file system to abort a connection.
 *
 * @module
 */
import { errno, openLibc, SysError } from "./libc.ts";

const libc = openLibc(
  {
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
    open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
    dup2: { parameters: ["i32", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  } as const,
);

const POLLIN = 1;

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}

/**
 * One blocking read(2) of a whole message into `buffer`: the byte count, or
 * the negative errno. Blocks the calling thread: call it from a Worker.
 */
export function readMessageSync(fd: number, buffer: Uint8Array): number {
  const n = Number(libc.read(fd, buffer, BigInt(buffer.length)));
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
