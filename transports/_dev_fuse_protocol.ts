/**
 * Messages between the /dev/fuse transport's main thread and its reader Worker.
 *
 * @module
 */
import type { ServerSpec } from "./server_spec.ts";

/** Main thread → Worker. */
export type ToWorker =
  | {
    type: "start";
    fd: number;
    spec: ServerSpec;
    bufferSize: number;
    /** Offer the server FUSE passthrough (backing files registered on `fd`). */
    passthrough?: boolean;
  }
  | {
    type: "go";
    /** After answering INIT: write this to the mount's bdi `read_ahead_kb` (path given). */
    readAhead?: { path: string; kb: number };
    /** How long the reader polls for the next request before it blocks. */
    spinMicroseconds?: number;
  }
  | { type: "stop" };

/** Worker → main thread. */
export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "log"; line: string }
  | { type: "ended"; reason: string; requests: number };
