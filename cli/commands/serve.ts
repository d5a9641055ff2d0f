/**
 * `ringside serve`: serve a host directory as the virtio-fs device of QEMU
 * guests (a vhost-user-fs back-end, in place of virtiofsd). It serves guest
 * after guest until SIGINT or SIGTERM.
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
  usageError,
} from "./_server_flags.ts";
import { startVhostUserBackend } from "../../transports/vhost_user/mod.ts";
import { parseServeUnixArgs, runServeUnix } from "./serve_unix.ts";
import { recorderSpec } from "../../engine/recorder.ts";
import { snapshotForCapture, writeFinalManifest } from "../../engine/snapshot.ts";

/** The options `ringside serve` accepts, as commander parses them. */
export interface ServeFlags {
  transport?: string;
  socket?: string;
  socketPath?: string;
  sharedDir?: string;
  cache?: string;
  readonly?: true;
  xattr?: true;
  writeback?: true;
  maxInodeFds?: string;
  queues?: string;
  tag?: string;
  packed?: boolean;
  record?: string;
  snapshot?: true;
  pollUs?: string;
  /** `--read-threads`. */
  readThreads?: string;
}

/** What {@linkcode parseServeArgs} makes of the flags. */
export interface ServePlan {
  /** Only `vhost-user` here. */
  transport: "vhost-user";
  /** Socket path to listen on. */
  socket: string;
  /** The shared directory. */
  sharedDir: string;
  /** Passthrough options. */
  passthrough: PassthroughChoice;
  /** Request queues. */
  queues: number;
  /** Offer packed rings. */
  packed: boolean;
  /** `--record FILE`, and whether to take a `--snapshot` first. */
  record?: { path: string; snapshot: boolean };
  /** `--poll-us`: the longest adaptive ring-polling window in us (undefined: the back-end's default). */
  pollUs?: number;
  /** `--read-threads`: threads per large READ (undefined: the back-end's default). */
  readThreads?: 1 | 2;
}

function usage(message: string): UserError {
  return usageError("serve", message);
}

/** Checks the flags and turns them into a plan; throws a usage {@linkcode UserError}. */
export function parseServeArgs(flags: ServeFlags): ServePlan {
  const transport = flags.transport ?? "vhost-user";
  if (transport !== "vhost-user") {
    throw usage(`unknown transport ${transport} (vhost-user or unix)`);
  }
  const socket = flags.socket ?? flags.socketPath;
  if (socket === undefined) throw usage("--socket PATH is required");
  if (flags.sharedDir === undefined) throw usage("--shared-dir DIR is required");
  const { passthrough, record } = parseServerFlags("serve", flags);
  const queues = Number(flags.queues ?? "1");
  if (!Number.isInteger(queues) || queues < 1 || queues > 254) {
    throw usage(`--queues must be an integer from 1 to 254, not ${flags.queues}`);
  }
  let pollUs: number | undefined;
  if (flags.pollUs !== undefined) {
    pollUs = Number(flags.pollUs);
    if (!Number.isFinite(pollUs) || pollUs < 0 || pollUs > 1_000_000) {
      throw usage(
        `--poll-us must be a number of microseconds from 0 to 1000000, not ${flags.pollUs}`,
      );
    }
  }
  let readThreads: 1 | 2 | undefined;
  if (flags.readThreads !== undefined) {
    if (flags.readThreads !== "1" && flags.readThreads !== "2") {
      throw usage(`--read-threads must be 1 or 2, not ${flags.readThreads}`);
    }
    readThreads = flags.readThreads === "1" ? 1 : 2;
  }
  requireDirectory("serve", flags.sharedDir, "shared directory");
  return {
    transport: "vhost-user",
    socket,
    sharedDir: flags.sharedDir,
    passthrough,
    queues,
    packed: flags.packed ?? true,
    record,
    pollUs,
    readThreads,
  };
}

/** Serves until SIGINT or SIGTERM; returns the exit status. */
export async function runServe(plan: ServePlan): Promise<number> {
  let backend;
  try {
    const record = plan.record === undefined ? undefined : recorderSpec(plan.record.path, {
      snapshot: plan.record.snapshot
        ? await snapshotForCapture(plan.sharedDir, plan.record.path)
        : undefined,
    });
    backend = await startVhostUserBackend(plan.socket, plan.sharedDir, {
      record,
      passthrough: plan.passthrough,
      queues: plan.queues,
      packed: plan.packed,
      spinMicroseconds: plan.pollUs,
      readThreads: plan.readThreads,
      onEvent: (e) =>
        console.error(
          `ringside serve: front-end ${e.connection} ${
            e.type === "connected" ? "connected" : "went away; waiting for the next one"
          }`,
        ),
    });
  } catch (e) {
    throw new UserError(`serve: ${(e as Error).message}`);
  }
  console.error(
    `ringside serve: serving ${plan.sharedDir} on vhost-user socket ${plan.socket} ` +
      `(cache ${plan.passthrough.cache}, ${plan.queues} request queue(s))`,
  );
  const stop = () => void backend.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await backend.done;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  // the recording is closed: its final state goes beside it (FILE.final.json) for replay and diff
  if (plan.record !== undefined) await writeFinalManifest(plan.sharedDir, plan.record.path);
  console.error(`ringside serve: stopped after ${backend.connections} front-end(s)`);
  return 0;
}

/** Registers `ringside serve` on `program`. */
export function registerServe(program: Command<[], { debug?: true }>): void {
  program
    .command("serve")
    .description(
      "serve a host directory as the virtio-fs device of QEMU guests (vhost-user-fs back-end), " +
        "guest after guest",
    )
    .option("--transport <kind>", "vhost-user (default), or unix (Renode-style FUSE socket)")
    .option("--socket <path>", "vhost-user socket to listen on")
    .option("--socket-path <path>", "same as --socket (virtiofsd's spelling)")
    .option("--shared-dir <dir>", "the host directory to share")
    .option("--cache <mode>", "never|auto|always (none = never; default auto)")
    .option("--readonly", "refuse every change with EROFS")
    .option("--xattr", "serve extended attributes")
    .option("--writeback", "offer the guest's writeback cache")
    .option("--max-inode-fds <n>", MAX_INODE_FDS_HELP)
    .option("--queues <n>", "request queues besides the hiprio queue (default 1)")
    .option("--tag <tag>", "accepted for virtiofsd compatibility; QEMU's tag= names the mount")
    .option("--no-packed", "do not offer packed virtqueues")
    .option(
      "--record <file>",
      "record to FILE (pcapng): FUSE exchanges, and with vhost-user each virtqueue's ring " +
        "events and the control messages",
    )
    .option(
      "--poll-us <us>",
      "after a burst, watch the rings up to this long (adaptive) before sleeping; default 1000 " +
        "(catches a TCG guest's next request, at the price of CPU while watching), 32 as " +
        "QEMU's iothreads, 0: sleep at once (least CPU)",
    )
    .option(
      "--read-threads <n>",
      "threads that copy one READ of 256 KiB or more into guest memory: 1 (default: one preadv) " +
        "or 2 (a helper thread shares the copy, then watches 1 ms for the next)",
    )
    .option("--snapshot", "with --record: store the shared directory first in FILE.snapshot/")
    .option("--forget-reply <mode>", "unix: header (default, what Renode waits for) or none")
    .addHelpText(
      "after",
      "\nQEMU side: -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem\n" +
        "  -chardev socket,id=vfs,path=SOCKET -device vhost-user-fs-pci,chardev=vfs,tag=myfs\n" +
        "Example: ringside serve --socket /tmp/vfs.sock --shared-dir /srv/share --cache auto",
    )
    .action(async (flags) => {
      const code = flags.transport === "unix"
        ? await runServeUnix(parseServeUnixArgs(flags))
        : await runServe(parseServeArgs(flags as ServeFlags));
      if (code !== 0) throw new ExitStatus(code);
    });
}
