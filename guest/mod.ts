/**
 * ringside's throw-away Linux guest: boots the host's Debian kernel with a
 * busybox initramfs under QEMU (TCG on hosts whose /dev/kvm cannot run it),
 * mounts a share at `/mnt` (virtio-fs through any vhost-user backend or a
 * C virtiofsd started for the run, QEMU's virtio-9p, or nothing), runs one
 * command and returns its status and output.
 *
 * ```ts
 * import { runGuest } from "./mod.ts";
 * const r = await runGuest({
 *   share: { kind: "vhost-user", socket: "/tmp/ringside.sock" },
 *   command: { shell: "ls -la /mnt && cat /mnt/hello" },
 * });
 * console.log(r.code, r.bootMs, new TextDecoder().decode(r.stdout));
 * ```
 *
 * @module
 */

export {
  type ChunkSink,
  DEFAULT_VIRTIOFSD,
  EXIT_HARNESS,
  EXIT_TIMEOUT,
  type GuestFile,
  type GuestResult,
  type GuestShare,
  runGuest,
  type RunGuestOptions,
  tailLines,
} from "./run.ts";
export {
  defaultCacheDir,
  ensureGuestImage,
  type EnsureGuestImageOptions,
  type GuestImage,
  MODULE_GROUPS,
} from "./image.ts";
export { chooseAccel, kernelCommandLine, qemuArgs, type QemuConfig } from "./qemu.ts";
export { type CpioEntry, decodeCpio, encodeCpio } from "./cpio.ts";
