/**
 * `ringside mount SHARED MOUNTPOINT`: serve a host directory to the host
 * kernel through /dev/fuse, with the engine's passthrough server in a reader
 * Worker. It serves until unmounted (`umount MOUNTPOINT` from anywhere), or
 * until SIGINT/SIGTERM, which unmount it (lazily when busy: a second signal
 * aborts the connection). Without `--foreground` it starts itself in the
 * background and returns once the mount is up.
 *
 * Mount options: nosuid, nodev, `default_permissions` and `allow_other`. The
 * engine creates files as the calling user; `default_permissions` makes the
 * kernel check access from the inode's owner and mode with the caller's
 * complete credentials (supplementary groups too), as on a local file system,
 * and `allow_other` lets users other than root use the mount at all.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { ExitStatus, UserError } from "../errors.ts";
import {
  MAX_INODE_FDS_HELP,
  parseServerFlags,
  type PassthroughChoice,
  requireDirectory,
} from "./_server_flags.ts";
import { type DevFuseMount, mountDevFuse, passthroughSpec } from "../../transports/mod.ts";
import { SysError } from "../../sys/libc.ts";
import { recordingServerSpec } from "../../engine/recorder.ts";
import { snapshotForCapture, writeFinalManifest } from "../../engine/snapshot.ts";
import { detachStdio } from "../../sys/fuse_dev.ts";

/** The options `ringside mount` accepts, as commander parses them. */
export interface MountFlags {
  cache?: string;
  readonly?: true;
  xattr?: true;
  writeback?: true;
  maxInodeFds?: string;
  foreground?: true;
  fusePassthrough?: boolean;
  record?: string;
  snapshot?: true;
}

/** What {@linkcode parseMountArgs} makes of the operands and flags. */
export interface MountPlan {
  /** The host directory to serve. */
  sharedDir: string;
  /** Where to mount it. */
  mountpoint: string;
  /** Passthrough options. */
  passthrough: PassthroughChoice;
  /** Stay attached to the terminal. */
  foreground: boolean;
  /**
   * Let the kernel read and write opened files directly (FUSE passthrough,
   * Linux 6.9+); always off while recording, so that the capture holds every
   * READ and WRITE.
   */
  fusePassthrough: boolean;
  /** `--record FILE`, and whether to take a `--snapshot` first. */
  record?: { path: string; snapshot: boolean };
}

/**
 * Checks operands, flags and the machine (root, /dev/fuse, both directories)
 * and turns them into a plan; throws a one-line {@linkcode UserError}.
 */
export function parseMountArgs(
  sharedDir: string,
  mountpoint: string,
  flags: MountFlags,
): MountPlan {
  const { passthrough, record } = parseServerFlags("mount", flags);
  requireDirectory("mount", sharedDir, "shared directory");
  requireDirectory("mount", mountpoint, "mountpoint");
  if (Deno.uid() !== 0) throw new UserError("mount: mounting a FUSE file system needs root");
  try {
    Deno.statSync("/dev/fuse");
  } catch {
    throw new UserError("mount: /dev/fuse does not exist (is the fuse module loaded?)");
  }
  return {
    sharedDir,
    mountpoint,
    passthrough,
    foreground: flags.foreground ?? false,
    fusePassthrough: (flags.fusePassthrough ?? true) && record === undefined,
    record,
  };
}

/** Marker the foreground child prints on stdout once mounted (background start). */
const READY = "ringside-mount-ready";

/** Mounts and serves in this process until the mount goes away; returns the exit status. */
export async function runMountForeground(plan: MountPlan): Promise<number> {
  let mount: DevFuseMount;
  try {
    let spec = passthroughSpec(plan.sharedDir, plan.passthrough);
    if (plan.record !== undefined) {
      spec = recordingServerSpec(spec, {
        path: plan.record.path,
        channel: "/dev/fuse",
        description: "host kernel FUSE device",
        snapshot: plan.record.snapshot
          ? await snapshotForCapture(plan.sharedDir, plan.record.path)
          : undefined,
      });
    }
    mount = await mountDevFuse(plan.mountpoint, spec, {
      readonly: plan.passthrough.readonly,
      passthrough: plan.fusePassthrough,
      fsname: "ringside",
    });
  } catch (e) {
    const why = e instanceof SysError ? `${e.call}: ${e.code}` : (e as Error).message;
    throw new UserError(`mount: cannot mount ${plan.sharedDir} on ${plan.mountpoint}: ${why}`);
  }
  console.error(
    `ringside mount: serving ${plan.sharedDir} on ${plan.mountpoint} (cache ${plan.passthrough.cache}` +
      `${plan.passthrough.readonly ? ", read-only" : ""}); umount or Ctrl-C to stop`,
  );
  if (Deno.env.get("RINGSIDE_MOUNT_NOTIFY") === "1") {
    await Deno.stdout.write(new TextEncoder().encode(`${READY}\n`));
    detachStdio();
  }
  let signals = 0;
  const stop = () => {
    signals++;
    if (signals === 1) void mount.unmount();
    else mount.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  let end;
  try {
    end = await mount.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  if (plan.record !== undefined) {
    // the reader has closed the capture: its final state goes beside it for replay and diff
    try {
      await writeFinalManifest(plan.sharedDir, plan.record.path);
    } catch (e) {
      console.error(
        `ringside mount: cannot write the final state of ${plan.record.path}: ${
          (e as Error).message
        }`,
      );
    }
  }
  if (end.reason !== "unmounted") {
    console.error(`ringside mount: ${plan.mountpoint}: ${end.reason}`);
    return 1;
  }
  console.error(`ringside mount: ${plan.mountpoint} unmounted after ${end.requests} requests`);
  return 0;
}

/**
 * Starts `ringside mount ... --foreground` as a detached child and returns
 * once it reports the mount is up (status 0), or with the child's status when
 * it fails first (its errors go straight to this terminal).
 */
export async function runMountBackground(args: string[]): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", Deno.mainModule, "mount", ...args, "--foreground"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { RINGSIDE_MOUNT_NOTIFY: "1" },
    detached: true,
  }).spawn();
  // relay the child's messages until it is up; then it detaches its stdio
  const relay = child.stderr.pipeTo(Deno.stderr.writable, { preventClose: true }).catch(() => {});
  const reader = child.stdout.getReader();
  let text = "";
  let ready = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    if (text.includes(READY)) {
      ready = true;
      break;
    }
  }
  if (ready) {
    // the child points its stderr at /dev/null right after READY: the relay ends
    await reader.cancel();
    await relay;
    child.unref();
    return 0;
  }
  await relay;
  const status = await child.status;
  return status.code === 0 ? 1 : status.code;
}

/** Registers `ringside mount` on `program`. */
export function registerMount(program: Command<[], { debug?: true }>): void {
  program
    .command("mount")
    .description(
      "serve a host directory on a mountpoint through /dev/fuse (as root), until unmounted",
    )
    .argument("<shared>", "the host directory to serve")
    .argument("<mountpoint>", "an existing directory to mount it on")
    .option("--cache <mode>", "never|auto|always (none = never; default auto)")
    .option("--readonly", "mount read-only and refuse every change with EROFS")
    .option("--xattr", "serve extended attributes")
    .option("--writeback", "use the kernel's writeback cache")
    .option("--max-inode-fds <n>", MAX_INODE_FDS_HELP)
    .option("--foreground", "stay in the foreground (default: return once mounted)")
    .option(
      "--no-fuse-passthrough",
      "do not let the kernel read and write opened files directly (FUSE passthrough, Linux 6.9+; " +
        "off anyway with --record, so that the capture holds every READ and WRITE)",
    )
    .option(
      "--record <file>",
      "record every FUSE exchange to FILE (pcapng); at unmount, FILE.final.json holds the final state",
    )
    .option("--snapshot", "with --record: store the shared directory first in FILE.snapshot/")
    .addHelpText(
      "after",
      "\nMounted nosuid,nodev,default_permissions,allow_other; files are created as the caller.\n" +
        "Stop with `umount MOUNTPOINT`, or Ctrl-C/SIGTERM in the foreground.\n" +
        "Example: ringside mount /srv/share /mnt/share --cache never",
    )
    .action(async (shared, mountpoint, flags) => {
      const plan = parseMountArgs(shared, mountpoint, flags as MountFlags);
      let code: number;
      if (plan.foreground) code = await runMountForeground(plan);
      else {
        const args = [shared, mountpoint];
        if (flags.cache) args.push("--cache", flags.cache);
        if (flags.readonly) args.push("--readonly");
        if (flags.xattr) args.push("--xattr");
        if (flags.writeback) args.push("--writeback");
        if (flags.maxInodeFds) args.push("--max-inode-fds", flags.maxInodeFds);
        if (flags.fusePassthrough === false) args.push("--no-fuse-passthrough");
        if (flags.record) args.push("--record", flags.record);
        if (flags.snapshot) args.push("--snapshot");
        code = await runMountBackground(args);
      }
      if (code !== 0) throw new ExitStatus(code);
    });
}
