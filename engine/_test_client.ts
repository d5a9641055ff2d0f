/**
 * Private test helper: a FUSE client that drives a {@linkcode FuseServer}
 * in-process by encoding requests with the FUSE codec and decoding the
 * replies, plus a temporary shared directory per test.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Errno } from "../sys/libc.ts";
import {
  decodeReply,
  decodeRequest,
  encodeRequest,
  type FuseExtension,
  type FuseReplyOf,
  InitFlag,
  type OpName,
  type ReplyBodies,
  type RequestBodiesInit,
  splitInitFlags,
} from "../codecs/fuse/mod.ts";
import {
  createPassthrough,
  type PassthroughServer,
  type PassthroughServerOptions,
} from "./session.ts";

/** Who a request comes from. */
export interface As {
  uid?: number;
  gid?: number;
  pid?: number;
  groups?: number[];
}

/** A decoded reply: `error` is the positive errno (0 on success). */
export interface Answer<K extends OpName> {
  error: number;
  body: ReplyBodies[K] | null;
  raw: Uint8Array | null;
}

/** In-process client with its own `unique` counter. */
export class TestClient {
  readonly server: PassthroughServer;
  minor = 45;
  #unique = 1n;
  lastUnique = 0n;

  constructor(server: PassthroughServer) {
    this.server = server;
  }

  /** Sends one request; `null` raw when the server sent no reply. */
  async call<K extends OpName>(
    op: K,
    nodeid: bigint,
    body: RequestBodiesInit[K],
    as: As = {},
  ): Promise<Answer<K>> {
    const r = this.send(op, nodeid, body, as);
    return await r.answer;
  }

  /** Sends one request and returns its unique and the (maybe pending) answer. */
  send<K extends OpName>(
    op: K,
    nodeid: bigint,
    body: RequestBodiesInit[K],
    as: As = {},
  ): { unique: bigint; answer: Promise<Answer<K>> } {
    const unique = this.#unique++;
    this.lastUnique = unique;
    const extensions: FuseExtension[] | undefined = as.groups === undefined
      ? undefined
      : [{ kind: "supp_groups", type: 32, groups: as.groups }];
    const bytes = encodeRequest(
      {
        op,
        header: { unique, nodeid, uid: as.uid ?? 0, gid: as.gid ?? 0, pid: as.pid ?? 1 },
        body,
        extensions,
      } as Parameters<typeof encodeRequest>[0],
      { minor: this.minor },
    );
    const request = decodeRequest(bytes, { minor: this.minor });
    const decode = (raw: Uint8Array | null): Answer<K> => {
      if (raw === null) return { error: 0, body: null, raw: null };
      const r = decodeReply(raw, { request, minor: this.minor }) as FuseReplyOf<K>;
      assert.equal(r.header.unique, unique, "reply pairs with its request");
      return { error: r.header.error === 0 ? 0 : -r.header.error, body: r.body, raw };
    };
    const out = this.server.handle(bytes);
    return {
      unique,
      answer: out instanceof Promise ? out.then(decode) : Promise.resolve(decode(out)),
    };
  }

  /** Sends raw bytes. */
  raw(bytes: Uint8Array): Uint8Array | null | Promise<Uint8Array | null> {
    return this.server.handle(bytes);
  }

  /** INIT at `minor` offering every flag; returns the decoded init_out. */
  async init(minor = 45, offered = (1n << 43n) - 1n): Promise<ReplyBodies["INIT"]> {
    this.minor = minor;
    const { flags, flags2 } = splitInitFlags(offered);
    const r = await this.call("INIT", 0n, {
      major: 7,
      minor,
      max_readahead: 131072,
      flags: minor >= 36 ? flags : flags & ~Number(InitFlag.INIT_EXT),
      flags2: minor >= 36 ? flags2 : 0,
    });
    assert.equal(r.error, 0, "INIT succeeds");
    return r.body!;
  }

  /** LOOKUP that must succeed; returns the node id. */
  async lookup(parent: bigint, name: string): Promise<bigint> {
    const r = await this.call("LOOKUP", parent, { name });
    assert.equal(r.error, 0, `LOOKUP ${name}`);
    return r.body!.nodeid;
  }

  /** CREATE of a regular file (read-write, 0644, plus `flags`) that must succeed. */
  async create(
    parent: bigint,
    name: string,
    flags = 0,
  ): Promise<{ nodeid: bigint; fh: bigint }> {
    const r = await this.call("CREATE", parent, {
      flags: 2 | 0o100 | flags, // O_RDWR | O_CREAT
      mode: 0o100644,
      umask: 0,
      open_flags: 0,
      name,
    });
    assert.equal(r.error, 0, `CREATE ${name}`);
    return { nodeid: r.body!.entry.nodeid, fh: r.body!.open.fh };
  }

  /** OPEN that must succeed; returns the handle. */
  async open(nodeid: bigint, flags: number): Promise<bigint> {
    const r = await this.call("OPEN", nodeid, { flags, open_flags: 0 });
    assert.equal(r.error, 0, "OPEN");
    return r.body!.fh;
  }
}

/** A temporary shared directory and a server on it; `fn` gets both, everything is cleaned up. */
export function withServer(
  options: PassthroughServerOptions,
  fn: (c: TestClient, dir: string) => Promise<void>,
  init = true,
): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ringside-engine-" });
    const server = createPassthrough(dir, { log: () => {}, ...options });
    const c = new TestClient(server);
    try {
      if (init) await c.init();
      await fn(c, dir);
    } finally {
      server.close();
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** ENOENT, EACCES, ... by name, for readable assertions. */
export const E = Errno;

/** A SETATTR body with every field zero but those given (`valid` says which apply). */
export function setattrIn(
  fields: Partial<RequestBodiesInit["SETATTR"]>,
): RequestBodiesInit["SETATTR"] {
  return {
    valid: 0,
    padding: 0,
    fh: 0n,
    size: 0n,
    lock_owner: 0n,
    atime: 0n,
    mtime: 0n,
    ctime: 0n,
    atimensec: 0,
    mtimensec: 0,
    ctimensec: 0,
    mode: 0,
    unused4: 0,
    uid: 0,
    gid: 0,
    unused5: 0,
    ...fields,
  };
}
