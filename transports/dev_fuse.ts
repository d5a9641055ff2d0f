/**
 * The /dev/fuse transport: serves a {@linkcode ServerSpec}'s server to the host
 * kernel on a mountpoint. The server lives in one reader Worker that does
 * blocking FFI reads of /dev/fuse (a FuseServer's state cannot be shared
 * between threads, so there is one reader, not a pool); the calling thread
 * keeps control: it mounts, unmounts, and learns when the mount went away
 * (unmounted here, by `umount` from outside, or the connection aborted).
 *
 * Mount options: `default_permissions` and `allow_other` by default. The
 * engine creates files as the calling user, so ownership is right; with
 * `default_permissions` the kernel also checks permissions against the
 * inode's mode with the caller's full credentials (supplementary groups
 * included) exactly as for a local file system, and `allow_other` lets users
 * other than the mounter in at all.
 *
 * @module
 */
import {
  closeFuseDevice,
  ensureFusectl,
  MNT_DETACH,
  mountFuse,
  MS_NODEV,
  MS_NOSUID,
  openFuseDevice,
  unmount,
} from "../sys/fuse_dev.ts";

/** mount(2) flag: read-only. */
const MS_RDONLY = 1;
import type { ServerSpec } from "./server_spec.ts";
import type { FromWorker, ToWorker } from "./_dev_fuse_protocol.ts";

/** Options for {@linkcode mountDevFuse}. */
export interface DevFuseOptions {
  /** Mount read-only (MS_RDONLY); the server should be read-only too. */
  readonly?: boolean;
  /** Let the kernel check permissions from the inode's mode and owner (default true). */
  defaultPermissions?: boolean;
  /** Let users other than the mounter use the mount (default true). */
  allowOther?: boolean;
  /** Bytes per /dev/fuse read; must exceed the negotiated max_write by a page (default 1 MiB + 4 KiB). */
  bufferSize?: number;
  /**
   * Readahead of the mount in KiB, set through its bdi once INIT is answered
   * (default 1024: cold sequential reads arrive as 1 MiB READs, the engine's
   * max_pages; the kernel would otherwise keep 128 KiB). 0 leaves the kernel's.
   */
  readAheadKb?: number;
  /**
   * After each reply the reader polls for the next request this long before
   * it blocks in read (default 30; 0 never polls). On a VM whose idle CPUs
   * are slow to wake, a client on one CPU and a sleeping reader on another
   * pay the wake-up on every request (here up to 70 us, against 5-15 us for
   * the request itself): polling tripled stat/s with attribute timeout 0.
   * The cost is at most this much CPU per request gap.
   */
  spinMicroseconds?: number;
  /**
   * Offer the server FUSE passthrough (Linux 6.9+, root): open regular files
   * are then read and written by the kernel on the host file directly, with
   * no request per read or write (default true; the server decides per file).
   */
  passthrough?: boolean;
  /** Source name shown in /proc/mounts (default `ringside`). */
  fsname?: string;
  /** Where the reader reports problems (default: stderr). */
  log?: (line: string) => void;
}

/** How a mount's service ended. */
export interface DevFuseEnd {
  /** `unmounted` for a normal end, otherwise what went wrong. */
  reason: string;
  /** Requests read from the kernel. */
  requests: number;
}

/** A live mount served by ringside. */
export interface DevFuseMount {
  /** The mountpoint. */
  readonly mountpoint: string;
  /** Resolves when the kernel ended the connection (unmounted from here or outside, or aborted). */
  readonly finished: Promise<DevFuseEnd>;
  /**
   * Unmounts and waits for the reader to end. A busy mount is detached lazily
   * (`lazy: true` does that right away): it disappears from the namespace now
   * and is served until its last open file is closed.
   */
  unmount(options?: { lazy?: boolean }): Promise<DevFuseEnd>;
  /** Aborts the kernel connection (fusectl): pending and future requests fail with ENOTCONN. */
  abort(): void;
}

const DEFAULT_BUFFER = 1024 * 1024 + 4096;
const DEFAULT_READ_AHEAD_KB = 1024;
const DEFAULT_SPIN_US = 30;

function extraOptions(options: DevFuseOptions): string {
  const parts: string[] = [];
  if (options.defaultPermissions ?? true) parts.push("default_permissions");
  if (options.allowOther ?? true) parts.push("allow_other");
  return parts.join(",");
}

/** The fuse connection number of the mount on `mountpoint` (its st_dev minor), from mountinfo. */
function connectionId(real: string): number | undefined {
  let found: number | undefined;
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    if (f.length < 5) continue;
    const mp = f[4].replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    if (mp === real && f[2].startsWith("0:")) found = Number(f[2].slice(2));
  }
  return found;
}

/**
 * Mounts a FUSE file system on `mountpoint` and serves it with the server
 * `spec` describes, built in a reader Worker. Resolves once the mount exists
 * (the kernel's INIT is then answered by the Worker); throws a SysError when
 * /dev/fuse cannot be opened or mount(2) fails, or an Error when the server
 * cannot be built.
 *
 * @example
 * ```ts
 * const m = await mountDevFuse("/mnt/x", passthroughSpec("/srv/share"));
 * // ... use /mnt/x from another thread or process ...
 * await m.unmount();
 * ```
 */
export async function mountDevFuse(
  mountpoint: string,
  spec: ServerSpec,
  options: DevFuseOptions = {},
): Promise<DevFuseMount> {
  const log = options.log ?? ((line: string) => console.error(`ringside: ${line}`));
  // resolved before mounting: afterwards a stat of the mountpoint would be a FUSE request
  const realMountpoint = Deno.realPathSync(mountpoint);
  const fd = openFuseDevice();
  const worker = new Worker(new URL("./_dev_fuse_worker.ts", import.meta.url), {
    type: "module",
    name: "ringside /dev/fuse reader",
  });
  const send = (m: ToWorker) => worker.postMessage(m);

  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  let endResolve!: (e: DevFuseEnd) => void;
  const finished = new Promise<DevFuseEnd>((res) => (endResolve = res));
  let ended = false;
  const finish = (end: DevFuseEnd) => {
    if (ended) return;
    ended = true;
    closeFuseDevice(fd);
    worker.terminate();
    endResolve(end);
  };

  worker.onmessage = (event: MessageEvent<FromWorker>) => {
    const m = event.data;
    if (m.type === "ready") readyResolve();
    else if (m.type === "failed") readyReject(new Error(m.message));
    else if (m.type === "log") log(m.line);
    else if (m.type === "ended") finish({ reason: m.reason, requests: m.requests });
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const message = event.message ?? "reader worker failed";
    readyReject(new Error(message));
    finish({ reason: `reader failed: ${message}`, requests: 0 });
  };

  send({
    type: "start",
    fd,
    spec,
    bufferSize: options.bufferSize ?? DEFAULT_BUFFER,
    passthrough: options.passthrough ?? true,
  });
  try {
    await ready;
  } catch (e) {
    worker.terminate();
    closeFuseDevice(fd);
    throw e;
  }
  let flags = MS_NOSUID | MS_NODEV;
  if (options.readonly) flags |= MS_RDONLY;
  try {
    mountFuse(fd, mountpoint, {
      flags,
      source: options.fsname ?? "ringside",
      userId: Deno.uid() ?? 0,
      groupId: Deno.gid() ?? 0,
      extra: extraOptions(options),
    });
  } catch (e) {
    send({ type: "stop" });
    worker.terminate();
    closeFuseDevice(fd);
    throw e;
  }
  // read now: once detached, the mount is no longer listed
  const connection = connectionId(realMountpoint);
  const kb = options.readAheadKb ?? DEFAULT_READ_AHEAD_KB;
  send({
    type: "go",
    readAhead: kb > 0 && connection !== undefined
      ? { path: `/sys/class/bdi/0:${connection}/read_ahead_kb`, kb }
      : undefined,
    spinMicroseconds: options.spinMicroseconds ?? DEFAULT_SPIN_US,
  });

  const abort = () => {
    if (ended) return;
    const id = connection;
    if (id === undefined) return;
    ensureFusectl();
    try {
      Deno.writeTextFileSync(`/sys/fs/fuse/connections/${id}/abort`, "1");
    } catch (e) {
      log(`cannot abort fuse connection ${id}: ${(e as Error).message}`);
    }
  };

  return {
    mountpoint,
    finished,
    abort,
    async unmount(opts: { lazy?: boolean } = {}) {
      if (!ended) {
        let err = unmount(mountpoint, { flags: opts.lazy ? MNT_DETACH : 0 });
        if (err === 16 /* EBUSY */) {
          log(`${mountpoint} is busy: detached, served until its last file is closed`);
          err = unmount(mountpoint, { flags: MNT_DETACH });
        }
        if (err !== 0 && err !== 22 /* EINVAL: no longer mounted */) {
          log(`umount ${mountpoint} failed: errno ${err}`);
        }
      }
      return await finished;
    },
  };
}
