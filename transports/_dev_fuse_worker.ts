/**
 * The /dev/fuse reader Worker: builds the server from its spec (server state
 * lives in this one thread), then reads whole requests from the device with
 * blocking FFI reads, hands each to the server and writes the reply. Replies
 * that come back as promises are written when they resolve; while any are
 * pending the loop polls the device with a short timeout and yields to the
 * event loop in between, so they can settle.
 *
 * Protocol with the main thread (see dev_fuse.ts): `start` → `ready` | `failed`;
 * `go` → the loop runs → `ended`; `log` at any time.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { pollReadable, readMessageSync, writeMessageSync } from "../sys/fuse_dev.ts";
import { alignedBytes, fuseBackingClose, fuseBackingOpen } from "../sys/fs.ts";
import { bareReply, FUSE_IN_HEADER_SIZE, requestOpcode, requestUnique } from "./framing.ts";
import { closeServer, instantiateServer, type ServerSpec, warmUpEngine } from "./server_spec.ts";
import type { FuseServer } from "../engine/types.ts";
import type { FromWorker, ToWorker } from "./_dev_fuse_protocol.ts";

const ENOENT = 2;
const EINTR = 4;
const EIO = 5;
const EAGAIN = 11;
const ENODEV = 19;
const ECONNABORTED = 103;

let server: FuseServer | undefined;

function post(message: FromWorker): void {
  self.postMessage(message);
}

function log(line: string): void {
  post({ type: "log", line });
}

/** fuse_in_header (40) + fuse_write_in (40): where a WRITE's data starts. */
const WRITE_DATA_OFFSET = 80;

/**
 * A read buffer placed so that a WRITE's payload starts on a page boundary:
 * an O_DIRECT host descriptor can then be written from it without a copy.
 */
function readBuffer(size: number): Uint8Array {
  return alignedBytes(size + 4096).subarray(
    4096 - WRITE_DATA_OFFSET,
    4096 - WRITE_DATA_OFFSET + size,
  );
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** FUSE_INIT's opcode. */
const FUSE_INIT = 26;

/**
 * Raises the mount's readahead once INIT is answered: the kernel sets it from
 * INIT's max_readahead (at most the 128 KiB it offers) while it processes the
 * reply, so an earlier write would be undone. Larger readahead lets cold
 * sequential reads arrive as max_pages-sized READs.
 */
function raiseReadAhead(readAhead: { path: string; kb: number } | undefined): void {
  if (readAhead === undefined) return;
  try {
    Deno.writeTextFileSync(readAhead.path, String(readAhead.kb));
  } catch (e) {
    log(`cannot set ${readAhead.path}: ${(e as Error).message}`);
  }
}

async function serve(
  fd: number,
  bufferSize: number,
  srv: FuseServer,
  readAhead: { path: string; kb: number } | undefined,
  spinMs: number,
): Promise<{ reason: string; requests: number }> {
  let buffer = readBuffer(bufferSize);
  let pending = 0;
  let requests = 0;
  let reason = "unmounted";

  const reply = (unique: bigint, message: Uint8Array | null) => {
    if (message === null) return;
    const n = writeMessageSync(fd, message);
    // ENOENT: the request was interrupted or the connection aborted meanwhile
    if (n < 0 && -n !== ENOENT && -n !== ENODEV) {
      log(`writing the reply to unique ${unique} failed: errno ${-n}`);
    }
  };

  for (;;) {
    if (pending > 0 && !pollReadable(fd, 2)) {
      await yieldToEventLoop();
      continue;
    }
    if (spinMs > 0 && pending === 0) {
      // Stay awake a moment for the next request: waking a sleeping reader
      // costs more than a whole request when the other CPU has gone idle.
      const t0 = performance.now();
      while (!pollReadable(fd, 0) && performance.now() - t0 < spinMs) { /* spin */ }
    }
    const n = readMessageSync(fd, buffer);
    if (n < 0) {
      const e = -n;
      if (e === ENOENT || e === EINTR || e === EAGAIN) continue;
      // ENODEV: the kernel ended the connection (unmounted, or aborted).
      // ECONNABORTED says the same for a connection that was aborted; Linux
      // 6.18 here also returns it, about once in twenty, as a detached
      // mount's last file closes.
      if (e !== ENODEV && e !== ECONNABORTED) reason = `read from /dev/fuse failed: errno ${e}`;
      break;
    }
    if (n < FUSE_IN_HEADER_SIZE) {
      log(`short read of ${n} bytes from /dev/fuse`);
      continue;
    }
    requests++;
    const request = buffer.subarray(0, n);
    const unique = requestUnique(request);
    let result: Uint8Array | null | Promise<Uint8Array | null>;
    try {
      result = srv.handle(request);
    } catch (e) {
      log(`server failed on unique ${unique}: ${(e as Error).message}`);
      result = bareReply(unique, -EIO);
    }
    if (result instanceof Promise) {
      // the pending request may still look at its bytes: read the next ones elsewhere
      buffer = readBuffer(bufferSize);
      pending++;
      result.then(
        (r) => reply(unique, r),
        (e) => {
          log(`server failed on unique ${unique}: ${(e as Error).message}`);
          reply(unique, bareReply(unique, -EIO));
        },
      ).finally(() => pending--);
    } else {
      reply(unique, result);
      if (requestOpcode(request) === FUSE_INIT) raiseReadAhead(readAhead);
    }
  }
  return { reason, requests };
}

let started: { fd: number; bufferSize: number } | undefined;

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  if (msg.type === "start") {
    try {
      server = await instantiateServer(msg.spec as ServerSpec);
      // every synchronous reply is written to the device before the next read
      server.repliesConsumedAtOnce = true;
      if (msg.passthrough) {
        const dev = msg.fd;
        server.backingFiles = {
          open: (fd) => fuseBackingOpen(dev, fd),
          close: (id) => fuseBackingClose(dev, id),
        };
      }
      // the engine's paths compiled before the kernel's first request (served cold if it fails)
      await warmUpEngine(msg.spec as ServerSpec);
      started = { fd: msg.fd, bufferSize: msg.bufferSize };
      post({ type: "ready" });
    } catch (e) {
      post({ type: "failed", message: (e as Error).message });
    }
  } else if (msg.type === "go" && started && server) {
    let end: { reason: string; requests: number };
    try {
      end = await serve(
        started.fd,
        started.bufferSize,
        server,
        msg.readAhead,
        (msg.spinMicroseconds ?? 0) / 1000,
      );
    } catch (e) {
      end = { reason: `reader failed: ${(e as Error).message}`, requests: 0 };
    }
    // close the server (a recorder flushes its capture) before saying so: the
    // main thread terminates this Worker as soon as it hears "ended"
    try {
      await closeServer(server);
    } catch (e) {
      log(`closing the server failed: ${(e as Error).message}`);
    }
    post({ type: "ended", ...end });
    self.close();
  } else if (msg.type === "stop") {
    if (server) await closeServer(server);
    self.close();
  }
};
