/**
 * FUSE passthrough negotiation and backing ids, with a recording stand-in for
 * the kernel's backing-file registry (the real one is exercised by
 * transports/dev_fuse_test.ts): one id per inode shared by its opens, dropped
 * after the last release, never for set-id files, never mixed with cached
 * opens after a failed registration, never beside the writeback cache.
 */
import assert from "node:assert/strict";
import { FOPEN, FUSE_ROOT_ID, InitFlag, initFlagsWord } from "../codecs/fuse/mod.ts";
import type { BackingFiles } from "./types.ts";
import { type TestClient, withServer } from "./_test_client.ts";

const O_RDWR = 2;

class FakeBacking implements BackingFiles {
  next = 7;
  opened: number[] = [];
  closed: number[] = [];
  fail = false;
  open(fd: number): number {
    if (this.fail) throw new Error("registration refused");
    assert.ok(fd >= 0);
    this.opened.push(this.next);
    return this.next++;
  }
  close(id: number): void {
    this.closed.push(id);
  }
}

async function open(c: TestClient, nodeid: bigint) {
  const r = await c.call("OPEN", nodeid, { flags: O_RDWR, open_flags: 0 });
  assert.equal(r.error, 0);
  return r.body!;
}

async function release(c: TestClient, nodeid: bigint, fh: bigint) {
  const r = await c.call("RELEASE", nodeid, { fh, flags: 0, release_flags: 0, lock_owner: 0n });
  assert.equal(r.error, 0);
}

function withBacking(
  options: Parameters<typeof withServer>[0],
  fn: (
    c: TestClient,
    dir: string,
    b: FakeBacking,
    granted: bigint,
    maxStackDepth: number,
  ) => Promise<void>,
) {
  return withServer(options, async (c, dir) => {
    const b = new FakeBacking();
    c.server.backingFiles = b;
    const out = await c.init();
    await fn(c, dir, b, initFlagsWord(out.flags, out.flags2), out.max_stack_depth);
  }, false);
}

Deno.test(
  "passthrough: granted with max_stack_depth 1; one backing id per inode, closed after the last release",
  withBacking({}, async (c, dir, b, granted, maxStackDepth) => {
    assert.notEqual(granted & InitFlag.PASSTHROUGH, 0n);
    assert.equal(maxStackDepth, 1);
    Deno.writeTextFileSync(`${dir}/f`, "data");
    const id = await c.lookup(FUSE_ROOT_ID, "f");
    const first = await open(c, id);
    const second = await open(c, id);
    assert.equal(first.open_flags, FOPEN.FOPEN_PASSTHROUGH);
    assert.equal(first.backing_id, 7);
    assert.equal(second.backing_id, 7, "the same id for every open of the inode");
    assert.deepEqual(b.opened, [7]);
    await release(c, id, first.fh);
    assert.deepEqual(b.closed, []);
    await release(c, id, second.fh);
    assert.deepEqual(b.closed, [7]);
    const again = await open(c, id);
    assert.equal(again.backing_id, 8, "a new id once the old one was dropped");
  }),
);

Deno.test(
  "passthrough: CREATE replies with a backing id; set-id files and failed registrations stay cached",
  withBacking({}, async (c, dir, b) => {
    const r = await c.call("CREATE", FUSE_ROOT_ID, {
      flags: O_RDWR | 0o100,
      mode: 0o100644,
      umask: 0,
      open_flags: 0,
      name: "new",
    });
    assert.equal(r.error, 0);
    assert.equal(r.body!.open.open_flags, FOPEN.FOPEN_PASSTHROUGH);
    assert.equal(r.body!.open.backing_id, 7);

    Deno.writeTextFileSync(`${dir}/suid`, "x");
    Deno.chmodSync(`${dir}/suid`, 0o4755);
    const s = await open(c, await c.lookup(FUSE_ROOT_ID, "suid"));
    assert.equal(s.open_flags & FOPEN.FOPEN_PASSTHROUGH, 0);
    assert.equal(s.backing_id, 0);

    Deno.writeTextFileSync(`${dir}/g`, "x");
    const g = await c.lookup(FUSE_ROOT_ID, "g");
    b.fail = true;
    assert.equal((await open(c, g)).open_flags & FOPEN.FOPEN_PASSTHROUGH, 0);
    b.fail = false;
    // never mixed: the inode's later opens stay cached too
    assert.equal((await open(c, g)).open_flags & FOPEN.FOPEN_PASSTHROUGH, 0);
    assert.deepEqual(b.opened, [7]);
  }),
);

Deno.test(
  "passthrough: not negotiated beside the writeback cache, nor without backing files",
  async () => {
    await withBacking({ writeback: true }, async (c, dir, b, granted) => {
      assert.equal(granted & InitFlag.PASSTHROUGH, 0n);
      assert.notEqual(granted & InitFlag.WRITEBACK_CACHE, 0n);
      Deno.writeTextFileSync(`${dir}/f`, "x");
      const o = await open(c, await c.lookup(FUSE_ROOT_ID, "f"));
      assert.equal(o.open_flags & FOPEN.FOPEN_PASSTHROUGH, 0);
      assert.deepEqual(b.opened, []);
    })();
    await withServer({}, async (c) => {
      const out = await c.init();
      assert.equal(initFlagsWord(out.flags, out.flags2) & InitFlag.PASSTHROUGH, 0n);
      assert.equal(out.max_stack_depth, 0);
    }, false)();
  },
);

Deno.test(
  "passthrough: a second INIT drops the backing ids held",
  withBacking({}, async (c, dir, b) => {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    await open(c, await c.lookup(FUSE_ROOT_ID, "f"));
    await c.init();
    assert.deepEqual(b.closed, [7]);
  }),
);
