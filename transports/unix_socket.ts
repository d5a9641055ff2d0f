/**
 * FUSE over a SOCK_STREAM Unix socket, framed as Renode's virtio-fs device and
 * libfuse's custom-io examples frame it: the client writes a fuse_in_header and
 * then `len - 40` body bytes; the server answers with a fuse_out_header and
 * `len - 16` body bytes. There is no other framing: the stream is a plain
 * sequence of FUSE messages.
 *
 * Requests that have no reply in the FUSE protocol (FORGET, BATCH_FORGET, an
 * INTERRUPT the server drops) are a problem for Renode: its device sends one
 * request and then blocks reading a reply header, for every chain, FORGET
 * included. By default ringside therefore answers them with a bare
 * fuse_out_header (len 16, error 0, the request's unique);
 * `forgetReply: "none"` sends nothing, as a /dev/fuse server (and libfuse's
 * custom-io loop) would.
 *
 * Clients are served one after another; each connection is its own FUSE
 * session with a freshly built server.
 *
 * @module
 */
import type { FuseServer } from "../engine/types.ts";
import {
  bareReply,
  FUSE_IN_HEADER_SIZE,
  FUSE_OUT_HEADER_SIZE,
  messageLength,
  requestUnique,
} from "./framing.ts";
import { closeServer, instantiateServer, type ServerSpec } from "./server_spec.ts";

/** What to send for a request the server answers with no reply. */
export type ForgetReply = "header" | "none";

/** EIO, sent when a server throws instead of answering. */
const EIO = 5;

/** Options for {@linkcode listenUnix}. */
export interface UnixListenOptions {
  /** Reply to FORGET/BATCH_FORGET (and other reply-less requests) with a bare header (`header`, the default, what Renode needs) or not at all (`none`). */
  forgetReply?: ForgetReply;
  /** Largest request accepted, in bytes (default 16 MiB); a longer `len` ends the connection. */
  maxMessageSize?: number;
  /** Stop after this many sessions (default: serve until closed). */
  maxSessions?: number;
  /** Where to report sessions starting and ending and protocol errors (default: nowhere). */
  log?: (line: string) => void;
}

/** A listening Unix-socket FUSE server. */
export interface UnixSocketServer {
  /** The socket path. */
  readonly path: string;
  /** Sessions served so far (finished or running). */
  readonly sessions: number;
  /** Resolves when the server has stopped (closed, or `maxSessions` reached). */
  readonly finished: Promise<void>;
  /** Stops accepting, ends the running session and removes the socket file. */
  close(): Promise<void>;
}

/** Where a session's server comes from: a spec (built per session) or a factory. */
export type ServerSource = ServerSpec | (() => FuseServer | Promise<FuseServer>);

function buildServer(source: ServerSource): Promise<FuseServer> {
  return typeof source === "function" ? Promise.resolve(source()) : instantiateServer(source);
}

/** Reads exact byte counts from a connection; `null` on a clean end of stream before the first byte. */
class ExactReader {
  #conn: Deno.Conn;
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async readInto(target: Uint8Array, allowEof: boolean): Promise<boolean> {
    let got = 0;
    while (got < target.length) {
      const n = await this.#conn.read(target.subarray(got));
      if (n === null) {
        if (got === 0 && allowEof) return false;
        throw new Error(`connection closed after ${got} of ${target.length} bytes`);
      }
      got += n;
    }
    return true;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await conn.write(bytes.subarray(done));
}

function removeStaleSocket(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isSocket) throw new Error(`${path} exists and is not a socket`);
  Deno.removeSync(path);
}

/**
 * Serves one connection until the client closes it: requests are handled in
 * arrival order, replies are written whole (one message per write, never
 * interleaved) in completion order.
 */
export async function serveConnection(
  conn: Deno.Conn,
  server: FuseServer,
  options: UnixListenOptions = {},
): Promise<{ requests: number }> {
  const forgetReply = options.forgetReply ?? "header";
  const max = options.maxMessageSize ?? 16 * 1024 * 1024;
  const log = options.log ?? (() => {});
  const reader = new ExactReader(conn);
  let writing: Promise<void> = Promise.resolve();
  let broken = false;
  const pending = new Set<Promise<void>>();
  let requests = 0;

  const send = (unique: bigint, reply: Uint8Array | null): Promise<void> => {
    const bytes = reply ?? (forgetReply === "header" ? bareReply(unique) : null);
    if (bytes === null || broken) return writing;
    if (bytes.length < FUSE_OUT_HEADER_SIZE || messageLength(bytes) !== bytes.length) {
      log(
        `server reply to unique ${unique} has len ${
          messageLength(bytes)
        } for ${bytes.length} bytes`,
      );
    }
    writing = writing.then(() => writeAll(conn, bytes)).catch((e) => {
      broken = true;
      log(`writing the reply to unique ${unique} failed: ${(e as Error).message}`);
    });
    return writing;
  };

  const header = new Uint8Array(FUSE_IN_HEADER_SIZE);
  try {
    while (!broken) {
      if (!await reader.readInto(header, true)) break;
      const len = messageLength(header);
      const unique = requestUnique(header);
      if (len < FUSE_IN_HEADER_SIZE || len > max) {
        log(
          `request unique ${unique} has len ${len} (allowed ${FUSE_IN_HEADER_SIZE}..${max}): closing`,
        );
        break;
      }
      const message = new Uint8Array(len);
      message.set(header);
      await reader.readInto(message.subarray(FUSE_IN_HEADER_SIZE), false);
      requests++;
      let result: Uint8Array | null | Promise<Uint8Array | null>;
      try {
        result = server.handle(message);
      } catch (e) {
        log(`server failed on unique ${unique}: ${(e as Error).message}`);
        result = bareReply(unique, -EIO);
      }
      if (result instanceof Promise) {
        const p: Promise<void> = result.then(
          (r) => send(unique, r),
          (e) => {
            log(`server failed on unique ${unique}: ${(e as Error).message}`);
            return send(unique, bareReply(unique, -EIO));
          },
        ).finally(() => pending.delete(p));
        pending.add(p);
      } else {
        await send(unique, result);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted)) {
      log(`session ended: ${(e as Error).message}`);
    }
  }
  await Promise.allSettled([...pending]);
  await writing;
  return { requests };
}

/**
 * Listens on `path` (a stale socket file there is replaced; any other file is
 * an error) and serves FUSE sessions one client after another, each with a
 * server built from `source`.
 *
 * @example
 * ```ts
 * const srv = listenUnix("/tmp/fs.sock", passthroughSpec("/srv/share"));
 * await srv.finished;
 * ```
 */
export function listenUnix(
  path: string,
  source: ServerSource,
  options: UnixListenOptions = {},
): UnixSocketServer {
  const log = options.log ?? (() => {});
  removeStaleSocket(path);
  const listener = Deno.listen({ transport: "unix", path });
  let sessions = 0;
  let closed = false;
  let current: Deno.Conn | undefined;

  const run = async () => {
    try {
      for await (const conn of listener) {
        sessions++;
        const n = sessions;
        current = conn;
        log(`session ${n}: client connected`);
        let server: FuseServer | undefined;
        try {
          server = await buildServer(source);
          const { requests } = await serveConnection(conn, server, options);
          log(`session ${n}: client disconnected after ${requests} requests`);
        } catch (e) {
          log(`session ${n}: ${(e as Error).message}`);
        } finally {
          current = undefined;
          try {
            conn.close();
          } catch {
            // already closed by close()
          }
          if (server) await closeServer(server);
        }
        if (options.maxSessions !== undefined && sessions >= options.maxSessions) break;
        if (closed) break;
      }
    } catch (e) {
      if (!closed) throw e;
    } finally {
      if (!closed) {
        closed = true;
        try {
          listener.close();
        } catch {
          // the loop's exit already closed it
        }
      }
      try {
        Deno.removeSync(path);
      } catch {
        // already gone
      }
    }
  };
  const finished = run();

  return {
    path,
    get sessions() {
      return sessions;
    },
    finished,
    async close() {
      if (!closed) {
        closed = true;
        listener.close();
        try {
          current?.close();
        } catch {
          // already closed
        }
      }
      await finished;
    },
  };
}
