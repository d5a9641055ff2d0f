/**
 * JIT warm-up of the engine: a throw-away passthrough session on a private
 * temporary directory answers a few hundred rounds of the common requests,
 * so that V8 has compiled and optimized the decode, dispatch, handler and
 * encode paths before the first real request arrives. A fresh daemon
 * otherwise answers its first requests from the interpreter: a guest's first
 * directory listing measured 0.9 ms for its first READDIR and 0.5 ms for its
 * OPENDIR, against 15-100 us once warm. The code is shared by every session
 * of the thread, so warming one warms them all.
 *
 * @module
 */
import {
  decodeReply,
  encodeRequest,
  type FuseRequestInit,
  type OpName,
} from "../codecs/fuse/mod.ts";
import { IoVecList } from "../sys/fs.ts";
import { createPassthrough, type PassthroughServerOptions } from "./session.ts";

const FUSE_ROOT_ID = 1n;
const ENOENT = 2;
const O_RDWR = 2, O_CREAT = 0o100, S_IFREG = 0o100000, S_IFDIR = 0o040000;

function vectored(reply: Uint8Array | null, op: string): void {
  if (reply === null || new DataView(reply.buffer, reply.byteOffset).getInt32(4, true) !== 0) {
    throw new Error(`warm-up: in-place ${op} was not served`);
  }
}

/** What {@linkcode warmUp} did. */
export interface WarmUpReport {
  /** Requests answered. */
  requests: number;
  /** Wall time, ms. */
  ms: number;
}

/** Options of {@linkcode warmUp}: the sessions' passthrough options, and the I/O list. */
export interface WarmUpOptions extends PassthroughServerOptions {
  /**
   * The list the in-place requests go through (default: a fresh
   * {@linkcode IoVecList}). Pass the one the transport will use: V8
   * specialises the compiled code for the class it saw, and a subclass
   * arriving later throws that code away (measured: the vhost-user Worker's
   * first 1 MiB WRITEs then ran unoptimised again).
   */
  iov?: IoVecList;
}

/**
 * Runs `rounds` rounds (default 300) of create, write, read (copied and in
 * place), getattr, setattr-free lookups, listings with and without
 * attributes, and unlink through throw-away sessions with the cache modes
 * that change the paths (never and auto); removes its directory.
 */
export function warmUp(rounds = 300, options: WarmUpOptions = {}): WarmUpReport {
  const { iov = new IoVecList(), ...serverOptions } = options;
  const started = performance.now();
  let requests = 0;
  for (const cache of ["never", "auto"] as const) {
    const dir = Deno.makeTempDirSync({ prefix: "ringside-warmup-" });
    const server = createPassthrough(dir, {
      ...serverOptions,
      cache,
      readonly: false,
      log: () => {},
    });
    server.repliesConsumedAtOnce = true;
    let unique = 1n;
    const call = <K extends OpName>(
      op: K,
      nodeid: bigint,
      body: unknown,
      expect = 0,
    ): Uint8Array | null => {
      requests++;
      const msg = { op, header: { unique: unique++, nodeid, pid: 1 }, body } as FuseRequestInit;
      const out = server.handle(encodeRequest(msg));
      if (out instanceof Promise) throw new Error(`warm-up: ${op} did not answer at once`);
      if (out === null) return null;
      // fuse_out_header.error: 0, or the negated errno expected
      const error = new DataView(out.buffer, out.byteOffset).getInt32(4, true);
      if (error !== -expect) throw new Error(`warm-up: ${op} answered error ${error}`);
      return out.slice();
    };
    const entry = (reply: Uint8Array | null, op: "LOOKUP" | "MKDIR") => {
      const r = decodeReply(reply!, { opcode: op });
      if (r.header.error !== 0) throw new Error(`warm-up: ${op} failed: ${r.header.error}`);
      return (r.body as { nodeid: bigint }).nodeid;
    };
    try {
      call("INIT", 0n, {
        major: 7,
        minor: 31,
        max_readahead: 131072,
        flags: 0x3fff_ffff,
        flags2: 0,
      });
      const sub = entry(
        call("MKDIR", FUSE_ROOT_ID, { mode: S_IFDIR | 0o755, umask: 0, name: "d" }),
        "MKDIR",
      );
      const data = new Uint8Array(4096).fill(0x5a);
      const head = new Uint8Array(80);
      for (let i = 0; i < rounds; i++) {
        const name = `f${i}`;
        const cr = decodeReply(
          call("CREATE", sub, {
            flags: O_RDWR | O_CREAT,
            mode: S_IFREG | 0o644,
            umask: 0,
            open_flags: 0,
            name,
          })!,
          { opcode: "CREATE" },
        );
        const { nodeid } = (cr.body as { entry: { nodeid: bigint } }).entry;
        const { fh } = (cr.body as { open: { fh: bigint } }).open;
        const io = { fh, offset: 0n, lock_owner: 0n, flags: 0, padding: 0 };
        call("WRITE", nodeid, { ...io, size: data.length, write_flags: 0, data });
        call("READ", nodeid, { ...io, size: 4096, read_flags: 0 });
        // in place, as the vhost-user Worker reads and writes guest buffers
        const write = encodeRequest({
          op: "WRITE",
          header: { unique: unique++, nodeid, pid: 1 },
          body: { ...io, size: data.length, write_flags: 0, data },
        });
        head.set(write.subarray(0, 80));
        iov.clear();
        iov.add(Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(data))), data.length);
        vectored(server.handleVectored(head, iov), "WRITE");
        head.set(
          encodeRequest({
            op: "READ",
            header: { unique: unique++, nodeid, pid: 1 },
            body: { ...io, size: 4096, read_flags: 0 },
          }),
        );
        vectored(server.handleVectored(head, iov), "READ");
        requests += 2;
        call("GETATTR", nodeid, { getattr_flags: 0, dummy: 0, fh: 0n });
        call("FLUSH", nodeid, { fh, unused: 0, padding: 0, lock_owner: 0n });
        call("RELEASE", nodeid, { fh, flags: 0, release_flags: 0, lock_owner: 0n });
        entry(call("LOOKUP", sub, { name }), "LOOKUP");
        call("LOOKUP", sub, { name: `missing${i}` }, ENOENT);
        call("GETATTR", sub, { getattr_flags: 0, dummy: 0, fh: 0n });
        if (i % 10 === 9) {
          const od = decodeReply(call("OPENDIR", sub, { flags: 0, open_flags: 0 })!, {
            opcode: "OPENDIR",
          });
          const dfh = (od.body as { fh: bigint }).fh;
          const rd = { fh: dfh, size: 4096, read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 };
          call("READDIR", sub, { ...rd, offset: 0n });
          call("READDIRPLUS", sub, { ...rd, offset: 0n });
          call("RELEASEDIR", sub, { fh: dfh, flags: 0, release_flags: 0, lock_owner: 0n });
        }
      }
      for (let i = 0; i < rounds; i++) {
        call("UNLINK", sub, { name: `f${i}` });
      }
      call("FORGET", sub, { nlookup: 1n });
    } finally {
      server.close();
      Deno.removeSync(dir, { recursive: true });
    }
  }
  return { requests, ms: performance.now() - started };
}
