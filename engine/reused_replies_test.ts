/**
 * Replies from reused buffers (a transport that writes each reply before the
 * next request sets `repliesConsumedAtOnce`): READ data read straight into
 * the reply, for buffered and O_DIRECT handles, short reads at the end of the
 * file included; header-only replies; and never for a reply that comes later
 * through a promise (a waiting SETLKW).
 */
import assert from "node:assert/strict";
import { FUSE_ROOT_ID } from "../codecs/fuse/mod.ts";
import { O_DIRECT } from "../sys/fs.ts";
import { E, type TestClient, withServer } from "./_test_client.ts";

const O_RDWR = 2;

async function fileWith(c: TestClient, name: string, data: Uint8Array, flags: number) {
  const { nodeid, fh } = await c.create(FUSE_ROOT_ID, name, flags);
  const w = await c.call("WRITE", nodeid, {
    fh,
    offset: 0n,
    size: data.length,
    write_flags: 0,
    lock_owner: 0n,
    flags: 0,
    padding: 0,
    data,
  });
  assert.equal(w.error, 0);
  return { nodeid, fh };
}

async function readBoth(c: TestClient, nodeid: bigint, fh: bigint, offset: number, size: number) {
  const body = {
    fh,
    offset: BigInt(offset),
    size,
    read_flags: 0,
    lock_owner: 0n,
    flags: 0,
    padding: 0,
  };
  c.server.repliesConsumedAtOnce = false;
  const fresh = (await c.call("READ", nodeid, body)).raw!;
  c.server.repliesConsumedAtOnce = true;
  const r = await c.call("READ", nodeid, body);
  const reused = r.raw!.slice();
  // the unique differs between the two requests; everything else is the same
  assert.equal(r.error, 0);
  assert.deepEqual(reused.subarray(16), fresh.subarray(16));
  assert.deepEqual(reused.subarray(0, 8), fresh.subarray(0, 8));
  assert.equal(new DataView(reused.buffer).getBigUint64(8, true), c.lastUnique);
  return reused.subarray(16);
}

const data = Uint8Array.from({ length: 3 * 65536 }, (_, i) => (i * 13 + 5) & 0xff);

Deno.test(
  "READ from the reused reply buffer: same reply as encoded, short read at EOF, empty past it",
  withServer({}, async (c) => {
    const { nodeid, fh } = await fileWith(c, "f", data, 0);
    assert.deepEqual(await readBoth(c, nodeid, fh, 0, 4096), data.subarray(0, 4096));
    assert.deepEqual(await readBoth(c, nodeid, fh, 100, 70000), data.subarray(100, 70100));
    assert.deepEqual(await readBoth(c, nodeid, fh, data.length - 10, 4096), data.subarray(-10));
    assert.equal((await readBoth(c, nodeid, fh, data.length + 10, 4096)).length, 0);
  }),
);

Deno.test(
  "READ from the reused reply buffer on an O_DIRECT handle",
  withServer({ cache: "never" }, async (c) => {
    const { nodeid, fh } = await fileWith(c, "d", data, O_DIRECT);
    assert.deepEqual(await readBoth(c, nodeid, fh, 65536, 65536), data.subarray(65536, 131072));
    assert.deepEqual(await readBoth(c, nodeid, fh, 0, 1 << 20), data);
  }),
);

Deno.test(
  "header-only replies come from the reused buffer; a SETLKW answered later owns its reply",
  withServer({}, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/l`, "x");
    c.server.repliesConsumedAtOnce = true;
    const missing = await c.call("LOOKUP", FUSE_ROOT_ID, { name: "missing" });
    assert.equal(missing.error, E.ENOENT);
    assert.equal(missing.raw!.length, 16);
    const id = await c.lookup(FUSE_ROOT_ID, "l");
    const fa = await c.open(id, O_RDWR);
    const fb = await c.open(id, O_RDWR);
    const lk = (fh: bigint, owner: bigint, type: number) => ({
      fh,
      owner,
      lk: { start: 0n, end: 0x7fffffffffffffffn, type, pid: 1 },
      lk_flags: 0,
      padding: 0,
    });
    const took = await c.call("SETLK", id, lk(fa, 1n, 1));
    assert.equal(took.error, 0);
    // the same shared buffer answered both header-only replies
    assert.equal(took.raw!.buffer, missing.raw!.buffer);
    const raw = c.send("SETLKW", id, lk(fb, 2n, 1));
    const waitingUnique = raw.unique;
    await new Promise((ok) => setTimeout(ok, 5));
    assert.equal((await c.call("SETLK", id, lk(fa, 1n, 2))).error, 0, "unlock");
    const answer = await raw.answer; // decoded when it resolved: pairs with its request
    assert.equal(answer.error, 0);
    // more header-only replies afterwards do not change the promised reply's bytes
    await c.call("LOOKUP", FUSE_ROOT_ID, { name: "missing" });
    assert.equal(
      new DataView(answer.raw!.buffer, answer.raw!.byteOffset).getBigUint64(8, true),
      waitingUnique,
    );
    assert.notEqual(answer.raw!.buffer, missing.raw!.buffer);
  }),
);

Deno.test(
  "WRITE replies from the reused buffer carry the size written",
  withServer({}, async (c, dir) => {
    const { nodeid, fh } = await fileWith(c, "w", new Uint8Array(0), 0);
    c.server.repliesConsumedAtOnce = true;
    for (const size of [1, 4096, 70000]) {
      const w = await c.call("WRITE", nodeid, {
        fh,
        offset: 10n,
        size,
        write_flags: 0,
        lock_owner: 0n,
        flags: 0,
        padding: 0,
        data: new Uint8Array(size).fill(size & 0xff),
      });
      assert.equal(w.error, 0);
      assert.equal(w.body!.size, size);
      assert.equal(w.raw!.length, 24);
    }
    assert.equal(Deno.statSync(`${dir}/w`).size, 70010);
  }),
);
