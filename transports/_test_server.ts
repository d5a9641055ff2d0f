/**
 * A small FUSE server for the transport tests, built from serialisable
 * options so a reader Worker can construct it: one read-only directory with a
 * single file, `hello`, whose READ answers asynchronously when asked to (to
 * exercise promise replies). Only for tests; the real server is the engine's
 * passthrough.
 *
 * @module
 */
import type { FuseServer } from "../engine/types.ts";
import { bareReply, FUSE_OUT_HEADER_SIZE } from "./framing.ts";

/** Opcodes the test server answers (include/uapi/linux/fuse.h). */
export const OP = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  OPEN: 14,
  READ: 15,
  STATFS: 17,
  RELEASE: 18,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  INTERRUPT: 36,
  BATCH_FORGET: 42,
  DESTROY: 38,
  /** used by tests only: answered once the next request has been handled */
  SETLKW: 33,
} as const;

const ENOENT = 2;
const ENOSYS = 38;

/** Options of {@linkcode createHelloServer}. */
export interface HelloOptions {
  /** Content of `/hello` (default "hello from ringside\n"). */
  content?: string;
  /** Answer READ through a promise that resolves on a later turn of the event loop. */
  asyncRead?: boolean;
}

function reply(unique: bigint, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FUSE_OUT_HEADER_SIZE + body.length);
  out.set(bareReply(unique));
  new DataView(out.buffer).setUint32(0, out.length, true);
  out.set(body, FUSE_OUT_HEADER_SIZE);
  return out;
}

function attr(v: DataView, at: number, ino: number, size: number, dir: boolean): void {
  v.setBigUint64(at, BigInt(ino), true);
  v.setBigUint64(at + 8, BigInt(size), true);
  v.setBigUint64(at + 16, BigInt(Math.ceil(size / 512)), true);
  // atime, mtime, ctime: 1 Jan 2024
  for (const off of [24, 32, 40]) v.setBigUint64(at + off, 1704067200n, true);
  v.setUint32(at + 60, dir ? 0o040755 : 0o100644, true);
  v.setUint32(at + 64, dir ? 2 : 1, true);
  v.setUint32(at + 80, 4096, true);
}

/**
 * Builds the test server: node 1 is the root directory, node 2 is `hello`.
 * The opcode `SETLKW` (33) is answered with a promise that resolves, with
 * error 0, only after the next request has been handled: it shows that a
 * transport keeps reading while a reply is pending.
 */
export function createHelloServer(options: HelloOptions = {}): FuseServer {
  const content = new TextEncoder().encode(options.content ?? "hello from ringside\n");
  let parked: (() => void) | undefined;

  function answer(request: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    const v = new DataView(request.buffer, request.byteOffset, request.byteLength);
    const opcode = v.getUint32(4, true);
    const unique = v.getBigUint64(8, true);
    const nodeid = v.getBigUint64(16, true);
    switch (opcode) {
      case OP.INIT: {
        const minor = Math.min(v.getUint32(44, true), 31);
        const body = new Uint8Array(64);
        const b = new DataView(body.buffer);
        b.setUint32(0, 7, true);
        b.setUint32(4, minor, true);
        b.setUint32(8, v.getUint32(48, true), true);
        b.setUint16(16, 12, true);
        b.setUint16(18, 9, true);
        b.setUint32(20, 128 * 1024, true);
        b.setUint32(24, 1, true);
        b.setUint16(28, 32, true);
        return reply(unique, body);
      }
      case OP.LOOKUP: {
        const name = new TextDecoder().decode(request.subarray(40, request.length - 1));
        if (nodeid !== 1n || name !== "hello") return bareReply(unique, -ENOENT);
        const body = new Uint8Array(128);
        const b = new DataView(body.buffer);
        b.setBigUint64(0, 2n, true);
        attr(b, 40, 2, content.length, false);
        return reply(unique, body);
      }
      case OP.GETATTR: {
        if (nodeid !== 1n && nodeid !== 2n) return bareReply(unique, -ENOENT);
        const body = new Uint8Array(104);
        attr(
          new DataView(body.buffer),
          16,
          Number(nodeid),
          nodeid === 1n ? 0 : content.length,
          nodeid === 1n,
        );
        return reply(unique, body);
      }
      case OP.OPEN:
      case OP.OPENDIR:
        return reply(unique, new Uint8Array(16));
      case OP.READ: {
        const offset = Number(v.getBigUint64(48, true));
        const size = v.getUint32(56, true);
        const out = reply(unique, content.subarray(offset, offset + size));
        if (!options.asyncRead) return out;
        return new Promise((resolve) => setTimeout(() => resolve(out), 1));
      }
      case OP.READDIR: {
        const offset = Number(v.getBigUint64(48, true));
        const entries: [number, string, number][] = [[1, ".", 4], [1, "..", 4], [2, "hello", 8]];
        const parts: Uint8Array[] = [];
        entries.slice(offset).forEach(([ino, name, type], i) => {
          const nameBytes = new TextEncoder().encode(name);
          const size = (24 + nameBytes.length + 7) & ~7;
          const d = new Uint8Array(size);
          const dv = new DataView(d.buffer);
          dv.setBigUint64(0, BigInt(ino), true);
          dv.setBigUint64(8, BigInt(offset + i + 1), true);
          dv.setUint32(16, nameBytes.length, true);
          dv.setUint32(20, type, true);
          d.set(nameBytes, 24);
          parts.push(d);
        });
        const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          body.set(p, at);
          at += p.length;
        }
        return reply(unique, body);
      }
      case OP.STATFS: {
        const body = new Uint8Array(80);
        const b = new DataView(body.buffer);
        b.setUint32(40, 4096, true);
        b.setUint32(44, 255, true);
        b.setUint32(48, 4096, true);
        return reply(unique, body);
      }
      case OP.RELEASE:
      case OP.RELEASEDIR:
      case OP.FLUSH:
      case OP.DESTROY:
        return bareReply(unique);
      case OP.FORGET:
      case OP.BATCH_FORGET:
      case OP.INTERRUPT:
        return null;
      case OP.SETLKW:
        return new Promise((resolve) => {
          parked = () => resolve(bareReply(unique));
        });
      default:
        return bareReply(unique, -ENOSYS);
    }
  }

  return {
    handle(request: Uint8Array) {
      const result = answer(request);
      const wake = parked;
      if (
        wake && new DataView(request.buffer, request.byteOffset).getUint32(4, true) !== OP.SETLKW
      ) {
        parked = undefined;
        queueMicrotask(wake);
      }
      return result;
    },
  };
}

/** A factory that always throws, for testing how transports report a server that cannot be built. */
export function createBrokenServer(): FuseServer {
  throw new Error("this test server cannot be built");
}
