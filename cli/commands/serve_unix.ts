/**
 * `ringside serve --transport unix`: FUSE over a SOCK_STREAM Unix socket with
 * the framing of Renode's virtio-fs device and libfuse's custom-io examples
 * (whole fuse_in_header + body messages in, fuse_out_header + body out), one
 * client after another, each its own session.
 *
 * @module
 */
import { UserError } from "../errors.ts";
import {
  parseServerFlags,
  type PassthroughChoice,
  requireDirectory,
  usageError,
} from "./_server_flags.ts";
import { type ForgetReply, listenUnix, passthroughSpec } from "../../transports/mod.ts";
import { recordingServerSpec } from "../../engine/recorder.ts";
import { snapshotForCapture } from "../../engine/snapshot.ts";

/** The `serve` flags the Unix transport reads. */
export interface ServeUnixFlags {
  socket?: string;
  socketPath?: string;
  sharedDir?: string;
  cache?: string;
  readonly?: true;
  xattr?: true;
  writeback?: true;
  maxInodeFds?: string;
  forgetReply?: string;
  record?: string;
  snapshot?: true;
}

/** What {@linkcode parseServeUnixArgs} makes of the flags. */
export interface ServeUnixPlan {
  /** Socket path to listen on. */
  socket: string;
  /** The shared directory. */
  sharedDir: string;
  /** Passthrough options. */
  passthrough: PassthroughChoice;
  /** What a reply-less request (FORGET) gets. */
  forgetReply: ForgetReply;
  /** `--record FILE`, and whether to take a `--snapshot` first. */
  record?: { path: string; snapshot: boolean };
}

function usage(message: string): UserError {
  return usageError("serve", message);
}

/** Checks the flags for `--transport unix`; throws a one-line {@linkcode UserError}. */
export function parseServeUnixArgs(flags: ServeUnixFlags): ServeUnixPlan {
  const socket = flags.socket ?? flags.socketPath;
  if (socket === undefined) throw usage("--socket PATH is required");
  if (flags.sharedDir === undefined) throw usage("--shared-dir DIR is required");
  const { passthrough, record } = parseServerFlags("serve", flags);
  const forgetReply = flags.forgetReply ?? "header";
  if (forgetReply !== "header" && forgetReply !== "none") {
    throw usage(`--forget-reply must be header or none, not ${forgetReply}`);
  }
  requireDirectory("serve", flags.sharedDir, "shared directory");
  return { socket, sharedDir: flags.sharedDir, passthrough, forgetReply, record };
}

/** Serves until SIGINT or SIGTERM; returns the exit status. */
export async function runServeUnix(plan: ServeUnixPlan): Promise<number> {
  let server;
  let spec = passthroughSpec(plan.sharedDir, plan.passthrough);
  if (plan.record !== undefined) {
    spec = recordingServerSpec(spec, {
      path: plan.record.path,
      channel: "unix",
      description: `FUSE over the Unix socket ${plan.socket}`,
      snapshot: plan.record.snapshot
        ? await snapshotForCapture(plan.sharedDir, plan.record.path)
        : undefined,
    });
  }
  try {
    server = listenUnix(plan.socket, spec, {
      forgetReply: plan.forgetReply,
      log: (line) => console.error(`ringside serve: ${line}`),
    });
  } catch (e) {
    throw new UserError(`serve: cannot listen on ${plan.socket}: ${(e as Error).message}`);
  }
  console.error(
    `ringside serve: serving ${plan.sharedDir} on Unix socket ${plan.socket} ` +
      `(cache ${plan.passthrough.cache}, FORGET answered with ${
        plan.forgetReply === "header" ? "a bare header" : "nothing"
      })`,
  );
  const srv = server;
  const stop = () => void srv.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    await srv.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
  console.error(`ringside serve: stopped after ${srv.sessions} session(s)`);
  return 0;
}
