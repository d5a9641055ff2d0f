/**
 * `ringside serve --transport unix`: FUSE over a SOCK_STREAM Unix socket with
 * the framing of Renode's virtio-fs device and libfuse's custom-io examples
 * (whole fuse_in_header + body messages in, fuse_out_header + body out), one
 * client after another, each its own session.
 *
 * @module
 */
import { UserError } from "../errors.ts";
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
  passthrough: {
    cache: "never" | "auto" | "always";
    readonly: boolean;
    xattr: boolean;
    writeback: boolean;
  };
  /** What a reply-less request (FORGET) gets. */
  forgetReply: ForgetReply;
  /** `--record FILE`, and whether to take a `--snapshot` first. */
  record?: { path: string; snapshot: boolean };
}

function usage(message: string): UserError {
  return new UserError(`serve: ${message}`, 2);
}

/** Checks the flags for `--transport unix`; throws a one-line {@linkcode UserError}. */
export function parseServeUnixArgs(flags: ServeUnixFlags): ServeUnixPlan {
  const socket = flags.socket ?? flags.socketPath;
  if (socket === undefined) throw usage("--socket PATH is required");
  if (flags.sharedDir === undefined) throw usage("--shared-dir DIR is required");
  if (flags.snapshot && flags.record === undefined) throw usage("--snapshot needs --record FILE");
  const cacheWord = flags.cache ?? "auto";
  const cache = cacheWord === "none" ? "never" : cacheWord;
  if (cache !== "never" && cache !== "auto" && cache !== "always") {
    throw usage(`--cache must be never, auto or always, not ${cacheWord}`);
  }
  const forgetReply = flags.forgetReply ?? "header";
  if (forgetReply !== "header" && forgetReply !== "none") {
    throw usage(`--forget-reply must be header or none, not ${forgetReply}`);
  }
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(flags.sharedDir);
  } catch {
    throw new UserError(`serve: shared directory ${flags.sharedDir} does not exist`);
  }
  if (!st.isDirectory) throw new UserError(`serve: ${flags.sharedDir} is not a directory`);
  return {
    socket,
    sharedDir: flags.sharedDir,
    passthrough: {
      cache,
      readonly: flags.readonly ?? false,
      xattr: flags.xattr ?? false,
      writeback: flags.writeback ?? false,
    },
    forgetReply,
    record: flags.record === undefined
      ? undefined
      : { path: flags.record, snapshot: flags.snapshot ?? false },
  };
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
