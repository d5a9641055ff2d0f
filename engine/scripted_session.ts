/**
 * A scripted guest session: the FUSE requests a kernel would send for a small
 * workload (look around, read files, create, write, rename, link, symlink,
 * xattrs, list directories, truncate, unlink, forget), sent through any
 * request sender. The demo drives it through real split rings, the replay
 * tests record it and play it back.
 *
 * The script reads the tree `testdata/demo-tree` has (README.txt,
 * notes/todo.txt, src/main.c) and tolerates other trees: a missing file is an
 * error reply, and the session goes on.
 *
 * @example
 * ```ts ignore
 * import { FuseScriptClient, runScriptedSession } from "./scripted_session.ts";
 * import { createPassthrough } from "./session.ts";
 * const server = createPassthrough("/tmp/copy");
 * const client = new FuseScriptClient((b) => Promise.resolve(server.handle(b)));
 * await runScriptedSession(client);
 * ```
 *
 * @module
 */
import {
  decodeReply,
  decodeRequest,
  encodeRequest,
  type FuseReplyOf,
  InitFlag,
  type OpName,
  type ReplyBodies,
  type RequestBodiesInit,
  splitInitFlags,
} from "../codecs/fuse/mod.ts";

/** Sends one raw request and resolves to the raw reply (or null for none). */
export type RequestSender = (request: Uint8Array) => Promise<Uint8Array | null>;

/** A decoded answer: `error` is the positive errno, 0 on success. */
export interface ScriptAnswer<K extends OpName> {
  /** Positive errno, 0 on success. */
  error: number;
  /** The reply body on success. */
  body: ReplyBodies[K] | null;
}

const te = new TextEncoder();

/** A tiny FUSE client over a {@linkcode RequestSender}, with its own uniques. */
export class FuseScriptClient {
  #send: RequestSender;
  #unique = 2n;
  #minor = 45;
  /** Requests sent so far. */
  sent = 0;

  /** Wraps `send`. */
  constructor(send: RequestSender) {
    this.#send = send;
  }

  /** Sends one request as uid/gid 0 and decodes the reply. */
  async call<K extends OpName>(
    op: K,
    nodeid: bigint,
    body: RequestBodiesInit[K],
  ): Promise<ScriptAnswer<K>> {
    const unique = this.#unique++;
    const bytes = encodeRequest(
      { op, header: { unique, nodeid, uid: 0, gid: 0, pid: 100 }, body } as Parameters<
        typeof encodeRequest
      >[0],
      { minor: this.#minor },
    );
    this.sent++;
    const raw = await this.#send(bytes);
    if (raw === null) return { error: 0, body: null };
    const request = decodeRequest(bytes, { minor: this.#minor });
    const r = decodeReply(raw, { request, minor: this.#minor }) as FuseReplyOf<K>;
    return { error: r.header.error === 0 ? 0 : -r.header.error, body: r.body };
  }

  /** INIT at 7.45 with the flags a current kernel offers. */
  async init(): Promise<ReplyBodies["INIT"]> {
    const { flags, flags2 } = splitInitFlags(
      InitFlag.ASYNC_READ | InitFlag.POSIX_LOCKS | InitFlag.BIG_WRITES | InitFlag.DONT_MASK |
        InitFlag.DO_READDIRPLUS | InitFlag.FLOCK_LOCKS | InitFlag.MAX_PAGES | InitFlag.INIT_EXT |
        InitFlag.EXPORT_SUPPORT | InitFlag.ATOMIC_O_TRUNC,
    );
    const r = await this.call("INIT", 0n, {
      major: 7,
      minor: 45,
      max_readahead: 131072,
      flags,
      flags2,
    });
    if (r.error !== 0 || r.body === null) throw new Error(`INIT failed: errno ${r.error}`);
    this.#minor = Math.min(45, r.body.minor);
    return r.body;
  }
}

const READ_IN = { read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 };

/** What the scripted session did, for printing. */
export interface ScriptSummary {
  /** Requests sent. */
  requests: number;
  /** One line per step. */
  steps: string[];
}

/**
 * Runs the scripted session (see the module doc) and returns what it did.
 * Every request goes through `client`; nothing is asserted here.
 */
export async function runScriptedSession(client: FuseScriptClient): Promise<ScriptSummary> {
  const steps: string[] = [];
  const c = client;
  await c.init();
  const lookups = new Map<bigint, bigint>();
  const look = async (parent: bigint, name: string): Promise<bigint> => {
    const r = await c.call("LOOKUP", parent, { name });
    if (r.error !== 0 || r.body === null || r.body.nodeid === 0n) return 0n;
    lookups.set(r.body.nodeid, (lookups.get(r.body.nodeid) ?? 0n) + 1n);
    return r.body.nodeid;
  };
  const count = (id: bigint | undefined) => {
    if (id !== undefined && id !== 0n) lookups.set(id, (lookups.get(id) ?? 0n) + 1n);
  };
  const listDir = async (node: bigint, plus: boolean): Promise<string[]> => {
    const o = await c.call("OPENDIR", node, { flags: 0o200000, open_flags: 0 });
    if (o.error !== 0 || o.body === null) return [];
    const fh = o.body.fh;
    const names: string[] = [];
    let offset = 0n;
    for (let i = 0; i < 64; i++) {
      if (plus) {
        const r = await c.call("READDIRPLUS", node, { fh, offset, size: 4096, ...READ_IN });
        if (r.error !== 0 || r.body === null || r.body.entries.length === 0) break;
        for (const e of r.body.entries) {
          names.push(e.dirent.name.text);
          count(e.entry_out.nodeid);
          offset = e.dirent.off;
        }
      } else {
        const r = await c.call("READDIR", node, { fh, offset, size: 4096, ...READ_IN });
        if (r.error !== 0 || r.body === null || r.body.entries.length === 0) break;
        for (const e of r.body.entries) {
          names.push(e.name.text);
          offset = e.off;
        }
      }
    }
    await c.call("RELEASEDIR", node, { fh, flags: 0, release_flags: 0, lock_owner: 0n });
    return names.filter((n) => n !== "." && n !== "..").sort();
  };
  const readFile = async (node: bigint): Promise<Uint8Array | null> => {
    const o = await c.call("OPEN", node, { flags: 0, open_flags: 0 });
    if (o.error !== 0 || o.body === null) return null;
    const r = await c.call("READ", node, { fh: o.body.fh, offset: 0n, size: 65536, ...READ_IN });
    await c.call("FLUSH", node, { fh: o.body.fh, unused: 0, padding: 0, lock_owner: 0n });
    await c.call("RELEASE", node, { fh: o.body.fh, flags: 0, release_flags: 0, lock_owner: 0n });
    return r.body?.data ?? null;
  };

  // 1. look around: ls -l /, cat README.txt, ls src, cat src/main.c
  const top = await listDir(1n, true);
  steps.push(`ls /            → ${top.join(" ")}`);
  await c.call("GETATTR", 1n, { getattr_flags: 0, dummy: 0, fh: 0n });
  const readme = await look(1n, "README.txt");
  const text = readme === 0n ? null : await readFile(readme);
  steps.push(`cat README.txt  → ${text === null ? "missing" : `${text.length} bytes`}`);
  const src = await look(1n, "src");
  if (src !== 0n) {
    const names = await listDir(src, false);
    steps.push(`ls src          → ${names.join(" ")}`);
    const main = await look(src, "main.c");
    if (main !== 0n) {
      const data = await readFile(main);
      steps.push(`cat src/main.c  → ${data === null ? "unreadable" : `${data.length} bytes`}`);
    }
  }
  await look(1n, "no-such-file");
  steps.push("stat no-such-file → ENOENT");

  // 2. write: create out.txt, write, setxattr, rename into notes/, link, symlink
  const created = await c.call("CREATE", 1n, {
    flags: 0o100101,
    mode: 0o100644,
    umask: 0o022,
    open_flags: 0,
    name: "out.txt",
  });
  let out = 0n;
  if (created.error === 0 && created.body !== null) {
    out = created.body.entry.nodeid;
    count(out);
    const fh = created.body.open.fh;
    const data = te.encode("written by the scripted guest session\n");
    await c.call("WRITE", out, {
      fh,
      offset: 0n,
      size: data.length,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0o100001,
      padding: 0,
      data,
    });
    await c.call("FLUSH", out, { fh, unused: 0, padding: 0, lock_owner: 0n });
    await c.call("RELEASE", out, { fh, flags: 0o100001, release_flags: 0, lock_owner: 0n });
    steps.push(`echo … > out.txt → ${data.length} bytes`);
    const v = te.encode("demo");
    await c.call("SETXATTR", out, {
      size: v.length,
      flags: 0,
      setxattr_flags: 0,
      padding: 0,
      name: "user.ringside",
      value: v,
    });
    await c.call("GETXATTR", out, { size: 64, padding: 0, name: "user.ringside" });
    await c.call("LISTXATTR", out, { size: 256, padding: 0 });
    steps.push("setfattr -n user.ringside -v demo out.txt; getfattr -d out.txt");
  }
  const notes = await look(1n, "notes");
  if (notes !== 0n && out !== 0n) {
    await c.call("RENAME2", 1n, {
      newdir: notes,
      flags: 0,
      padding: 0,
      oldname: "out.txt",
      newname: "out.txt",
    });
    const l = await c.call("LINK", notes, { oldnodeid: out, newname: "out-link.txt" });
    if (l.error === 0) count(l.body?.nodeid);
    steps.push("mv out.txt notes/; ln notes/out.txt notes/out-link.txt");
  }
  const sym = await c.call("SYMLINK", 1n, { name: "readme-link", linkname: "README.txt" });
  if (sym.error === 0 && sym.body !== null) {
    count(sym.body.nodeid);
    await c.call("READLINK", sym.body.nodeid, {});
  }
  const mk = await c.call("MKDIR", 1n, { mode: 0o755, umask: 0o022, name: "build" });
  if (mk.error === 0) count(mk.body?.nodeid);
  steps.push("ln -s README.txt readme-link; mkdir build");

  // 3. change and remove: truncate todo.txt, chmod, rm, ls -l notes
  if (notes !== 0n) {
    const todo = await look(notes, "todo.txt");
    if (todo !== 0n) {
      await c.call("SETATTR", todo, {
        valid: (1 << 3) | (1 << 0),
        padding: 0,
        fh: 0n,
        size: 5n,
        lock_owner: 0n,
        atime: 0n,
        mtime: 0n,
        ctime: 0n,
        atimensec: 0,
        mtimensec: 0,
        ctimensec: 0,
        mode: 0o100600,
        unused4: 0,
        uid: 0,
        gid: 0,
        unused5: 0,
      });
      const d = await readFile(todo);
      steps.push(`truncate -s 5 notes/todo.txt; chmod 600 → ${d?.length ?? 0} bytes left`);
    }
    await c.call("UNLINK", notes, { name: "out-link.txt" });
    const names = await listDir(notes, true);
    steps.push(`rm notes/out-link.txt; ls notes → ${names.join(" ")}`);
  }
  await c.call("STATFS", 1n, {});

  // 4. the kernel forgets everything at umount
  const forgets = [...lookups].map(([nodeid, nlookup]) => ({ nodeid, nlookup }));
  if (forgets.length > 0) {
    await c.call("BATCH_FORGET", 0n, { count: forgets.length, dummy: 0, forgets });
  }
  await c.call("DESTROY", 1n, {});
  return { requests: c.sent, steps };
}
