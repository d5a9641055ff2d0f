/**
 * GETATTR and LOOKUP answered straight into a reused reply (the session's
 * direct path, taken when the transport consumes replies at once): two
 * servers on one directory get the same requests, one with the direct path
 * and one without, and every reply must be the same bytes; the inode
 * tables must end the same.
 */
import assert from "node:assert/strict";
import { encodeRequest, FUSE_ROOT_ID } from "../codecs/fuse/mod.ts";
import { createPassthrough, type PassthroughServer } from "./session.ts";
import { E, TestClient } from "./_test_client.ts";

interface Side {
  client: TestClient;
  /** Node ids and handles by name: each server draws its own (random high bits). */
  ids: Map<string, bigint>;
}

interface Pair {
  direct: Side;
  general: Side;
}

async function withPair(
  cache: "never" | "auto",
  minor: number,
  fn: (p: Pair) => Promise<void>,
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "ringside-direct-" });
  Deno.writeTextFileSync(`${dir}/f`, "hello");
  Deno.mkdirSync(`${dir}/sub`);
  Deno.writeTextFileSync(`${dir}/sub/g`, "in a subdirectory");
  Deno.symlinkSync("f", `${dir}/link`);
  const a = createPassthrough(dir, { cache, log: () => {} }) as PassthroughServer;
  const b = createPassthrough(dir, { cache, log: () => {} }) as PassthroughServer;
  a.repliesConsumedAtOnce = true;
  const root = () => new Map([["root", FUSE_ROOT_ID]]);
  const p = {
    direct: { client: new TestClient(a), ids: root() },
    general: { client: new TestClient(b), ids: root() },
  };
  try {
    await p.direct.client.init(minor);
    await p.general.client.init(minor);
    await fn(p);
  } finally {
    a.close();
    b.close();
    Deno.removeSync(dir, { recursive: true });
  }
}

let unique = 1000n;

/**
 * Sends one request, built for each server with its own ids, to both;
 * asserts equal replies and returns the direct one (copied). `save` names
 * the id (node id or handle) a successful reply carries at byte 16: it is
 * kept per server and left out of the comparison, but its low 32 bits (the
 * count of ids drawn) must agree.
 */
async function both(
  p: Pair,
  build: (id: (name: string) => bigint) => Uint8Array,
  what: string,
  save?: string,
): Promise<Uint8Array | null> {
  const replies: (Uint8Array | null)[] = [];
  const first = unique;
  for (const side of [p.direct, p.general]) {
    unique = first; // the same unique for both
    const id = (name: string) => {
      const v = side.ids.get(name);
      if (v === undefined) throw new Error(`no id for ${name}`);
      return v;
    };
    const out = await side.client.raw(build(id));
    const copy = out === null ? null : out.slice();
    if (save !== undefined && copy !== null && copy.length > 16 && i32(copy, 4) === 0) {
      side.ids.set(save, u64(copy, 16));
      copy.fill(0, 20, 24); // the random high half
    }
    replies.push(copy);
  }
  assert.deepEqual(replies[0], replies[1], what);
  return replies[0];
}

function request(
  minor: number,
  op: "GETATTR" | "LOOKUP" | "OPEN" | "FORGET",
  nodeid: bigint,
  body: Record<string, unknown>,
): Uint8Array {
  return encodeRequest(
    { op, header: { unique: unique++, nodeid, uid: 0, gid: 0, pid: 1 }, body } as Parameters<
      typeof encodeRequest
    >[0],
    { minor },
  );
}

const getattr =
  (minor: number, node: string, flags = 0, handle?: string, extra = 0n) =>
  (id: (name: string) => bigint) =>
    request(minor, "GETATTR", ids(id, node), {
      getattr_flags: flags,
      dummy: 0,
      fh: handle === undefined ? 0n : id(handle) + extra,
    });
const lookup =
  (minor: number, parent: string, name: string | Uint8Array) => (id: (name: string) => bigint) =>
    request(minor, "LOOKUP", ids(id, parent), { name });

/** A name's id, or a literal id ("#999"). */
function ids(id: (name: string) => bigint, name: string): bigint {
  return name.startsWith("#") ? BigInt(name.slice(1)) : id(name);
}

function i32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset).getInt32(at, true);
}

function u64(b: Uint8Array, at: number): bigint {
  return new DataView(b.buffer, b.byteOffset).getBigUint64(at, true);
}

for (const cache of ["never", "auto"] as const) {
  Deno.test(`direct GETATTR and LOOKUP (cache ${cache}): the same bytes as the general path`, () =>
    withPair(cache, 45, async (p) => {
      const m = 45;
      const f = await both(p, lookup(m, "root", "f"), "LOOKUP f", "f");
      assert.equal(f!.length, 144);
      assert.equal(i32(f!, 4), 0);
      assert.equal(u64(f!, 16 + 40 + 8), 5n, "the size in the entry's attributes");
      await both(p, lookup(m, "root", "f"), "LOOKUP f again (same node id)", "f");
      const ga = await both(p, getattr(m, "root"), "GETATTR root");
      assert.equal(ga!.length, 120);
      await both(p, getattr(m, "f"), "GETATTR f");
      await both(p, lookup(m, "root", "sub"), "LOOKUP sub", "sub");
      await both(p, lookup(m, "sub", "g"), "LOOKUP sub/g", "g");
      const link = await both(p, lookup(m, "root", "link"), "LOOKUP link (not followed)", "link");
      assert.equal(u64(link!, 16 + 40 + 8), 1n, "the symlink's own size");
      // errors
      const errno = async (build: (id: (n: string) => bigint) => Uint8Array, what: string) =>
        -i32((await both(p, build, what))!, 4);
      assert.equal(await errno(lookup(m, "root", "missing"), "LOOKUP missing"), E.ENOENT);
      assert.equal(await errno(lookup(m, "f", "x"), "LOOKUP in a file"), E.ENOTDIR);
      assert.equal(await errno(lookup(m, "root", "a/b"), "a slash in the name"), E.EINVAL);
      assert.equal(await errno(getattr(m, "#999"), "GETATTR of an unknown node"), E.ESTALE);
      assert.equal(await errno(lookup(m, "#999", "f"), "LOOKUP in an unknown node"), E.ESTALE);
      // left to the general path: . and .., a NUL inside the name, a bad length
      await both(p, lookup(m, "sub", "."), "LOOKUP .", "sub");
      await both(p, lookup(m, "sub", ".."), "LOOKUP ..", "root");
      await both(p, lookup(m, "root", new Uint8Array([0x66, 0, 0x67])), "a NUL inside the name");
      await both(p, (id) => {
        const r = getattr(m, "root")(id);
        new DataView(r.buffer).setUint32(0, r.length + 4, true);
        return r;
      }, "a length that does not add up");
      // through a handle (FUSE_GETATTR_FH), and a handle that does not exist
      await both(p, (id) => request(m, "OPEN", id("f"), { flags: 0, open_flags: 0 }), "OPEN", "fh");
      await both(p, getattr(m, "f", 1, "fh"), "GETATTR through the handle");
      assert.equal(await errno(getattr(m, "f", 1, "fh", 77n), "an unknown handle"), E.EBADF);
      // every lookup counted: forgetting them releases the same inodes in both
      const sizes = () => [p.direct, p.general].map((s) => s.client.server.handler.inodes.size);
      assert.equal(sizes()[0], sizes()[1]);
      const before = sizes()[0];
      await both(p, (id) => request(m, "FORGET", id("f"), { nlookup: 2n }), "FORGET f");
      assert.deepEqual(sizes(), [before - 1, before - 1]);
      assert.equal(await errno(getattr(m, "f"), "GETATTR of a forgotten node"), E.ESTALE);
    }));
}

Deno.test("the direct path is the one taken: one reused reply for GETATTR, one for LOOKUP", () =>
  withPair("never", 45, async (p) => {
    const id = (n: string) => p.direct.ids.get(n)!;
    const d = p.direct.client;
    const r1 = await d.raw(getattr(45, "root")(id));
    const r2 = await d.raw(getattr(45, "root")(id));
    assert.ok(r1 !== null && r1 === r2, "GETATTR answered from one buffer");
    const l1 = await d.raw(lookup(45, "root", "f")(id));
    const l2 = await d.raw(lookup(45, "root", "sub")(id));
    assert.ok(l1 !== null && l1 === l2, "LOOKUP answered from one buffer");
    const g = p.general.client;
    const g1 = await g.raw(getattr(45, "root")(id));
    const g2 = await g.raw(getattr(45, "root")(id));
    assert.notEqual(g1, g2, "without repliesConsumedAtOnce every reply is its own");
  }));

Deno.test("before 7.9 (smaller attributes) GETATTR and LOOKUP keep the general path", () =>
  withPair("never", 8, async (p) => {
    const l = await both(p, lookup(8, "root", "f"), "LOOKUP at 7.8", "f");
    assert.equal(l!.length, 16 + 120, "the 7.8 fuse_entry_out");
    await both(p, getattr(8, "root"), "GETATTR at 7.8");
  }));
