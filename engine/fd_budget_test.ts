/**
 * The inode descriptor budget: past `maxInodeFds`, inodes are parked as
 * file handles and reopened by handle when a request needs them. Every
 * operation must behave as if nothing had been parked.
 */
import assert from "node:assert/strict";
import { FUSE_ROOT_ID } from "../codecs/fuse/mod.ts";
import { E, setattrIn, type TestClient, withServer } from "./_test_client.ts";

const ROOT = FUSE_ROOT_ID;
const enc = new TextEncoder();
const dec = new TextDecoder();
const BUDGET = 16;

function stats(c: TestClient) {
  return c.server.handler.inodes.fdStats();
}

function getattr(c: TestClient, nodeid: bigint) {
  return c.call("GETATTR", nodeid, { getattr_flags: 0, dummy: 0, fh: 0n });
}

Deno.test(
  "fd budget: inodes past the budget are parked, and every operation reopens them by handle",
  withServer({ maxInodeFds: BUDGET }, async (c, dir) => {
    Deno.mkdirSync(`${dir}/d`);
    Deno.mkdirSync(`${dir}/e`);
    const names = Array.from({ length: 200 }, (_, i) => `f${i}`);
    for (const n of names) Deno.writeTextFileSync(`${dir}/d/${n}`, `content of ${n}`);
    Deno.symlinkSync("d/f7", `${dir}/link`);
    Deno.writeTextFileSync(`${dir}/x`, "x");

    const d = await c.lookup(ROOT, "d");
    const e = await c.lookup(ROOT, "e");
    const link = await c.lookup(ROOT, "link");
    const x = await c.lookup(ROOT, "x");
    const ids = new Map<string, { nodeid: bigint; ino: bigint }>();
    for (const n of names) {
      const r = await c.call("LOOKUP", d, { name: n });
      assert.equal(r.error, 0, n);
      ids.set(n, { nodeid: r.body!.nodeid, ino: r.body!.attr.ino });
    }
    const s = stats(c);
    assert.ok(s.open <= BUDGET, `${s.open} descriptors held, budget ${BUDGET}`);
    assert.ok(s.parked >= 200 - BUDGET, `${s.parked} parked`);
    assert.equal(s.disabled, undefined);

    // every parked inode answers as itself
    for (const n of names) {
      const { nodeid, ino } = ids.get(n)!;
      const a = await getattr(c, nodeid);
      assert.equal(a.error, 0, `GETATTR ${n}`);
      assert.equal(a.body!.attr.ino, ino, `GETATTR ${n} is the same object`);
    }
    assert.ok(stats(c).unparks >= 150, `${stats(c).unparks} reopened`);
    assert.ok(stats(c).open <= BUDGET);

    // the directories were parked long ago: names resolve in the right one
    assert.ok(stats(c).parked > 0);
    const made = await c.call("CREATE", e, {
      flags: 2 | 0o100,
      mode: 0o100644,
      umask: 0,
      open_flags: 0,
      name: "new",
    });
    assert.equal(made.error, 0);
    assert.ok(Deno.statSync(`${dir}/e/new`).isFile);
    await c.call("RELEASE", made.body!.entry.nodeid, {
      fh: made.body!.open.fh,
      flags: 0,
      release_flags: 0,
      lock_owner: 0n,
    });

    // data, symlinks, xattrs, rename and link through parked inodes
    const f3 = ids.get("f3")!.nodeid;
    const fh = await c.open(f3, 0);
    const rd = await c.call("READ", f3, {
      fh,
      offset: 0n,
      size: 100,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.equal(dec.decode(rd.body!.data), "content of f3");
    const rl = await c.call("READLINK", link, {});
    assert.equal(rl.error, 0);
    assert.equal(dec.decode(rl.body!.link as Uint8Array), "d/f7");
    const sx = await c.call("SETXATTR", ids.get("f9")!.nodeid, {
      size: 3,
      flags: 0,
      setxattr_flags: 0,
      padding: 0,
      name: "user.k",
      value: enc.encode("v42"),
    });
    assert.equal(sx.error, 0);
    assert.equal(
      dec.decode(Deno.readFileSync(`${dir}/d/f9`)),
      "content of f9",
      "SETXATTR went to f9",
    );
    const mv = await c.call("RENAME2", d, {
      newdir: e,
      flags: 0,
      padding: 0,
      oldname: "f10",
      newname: "g10",
    });
    assert.equal(mv.error, 0);
    assert.equal(Deno.readTextFileSync(`${dir}/e/g10`), "content of f10");
    const ln = await c.call("LINK", e, { oldnodeid: x, newname: "x2" });
    assert.equal(ln.error, 0);
    assert.equal(Deno.readTextFileSync(`${dir}/e/x2`), "x");
    const ch = await c.call(
      "SETATTR",
      ids.get("f11")!.nodeid,
      setattrIn({ valid: 1, mode: 0o600 }),
    );
    assert.equal(ch.error, 0);
    assert.equal(Deno.statSync(`${dir}/d/f11`).mode! & 0o777, 0o600);

    // a LOOKUP of a parked object takes the new descriptor instead of reopening
    const before = stats(c);
    const again = await c.call("LOOKUP", d, { name: "f0" });
    assert.equal(again.body!.nodeid, ids.get("f0")!.nodeid);
    assert.equal(stats(c).unparks, before.unparks);

    // an object deleted while parked is stale; one held by descriptor is not
    for (const n of names.slice(150)) await getattr(c, ids.get(n)!.nodeid);
    const parkedVictim = ids.get("f20")!.nodeid;
    const heldVictim = ids.get("f199")!.nodeid;
    assert.ok(stats(c).parked > 0);
    Deno.removeSync(`${dir}/d/f20`);
    Deno.removeSync(`${dir}/d/f199`);
    assert.equal((await getattr(c, parkedVictim)).error, E.ESTALE);
    const held = await getattr(c, heldVictim);
    assert.equal(held.error, 0);
    assert.equal(held.body!.attr.nlink, 0);

    // FORGET of parked inodes releases them
    for (const n of names) {
      if (n === "f10") continue;
      await c.call("FORGET", ids.get(n)!.nodeid, { nlookup: n === "f0" ? 2n : 1n });
    }
    const end = stats(c);
    assert.ok(end.parked + end.open <= 8, JSON.stringify(end));
  }),
);

Deno.test(
  "fd budget: READDIRPLUS of a directory larger than the budget counts every entry",
  withServer({ maxInodeFds: BUDGET }, async (c, dir) => {
    Deno.mkdirSync(`${dir}/big`);
    for (let i = 0; i < 500; i++) Deno.writeTextFileSync(`${dir}/big/n${i}`, String(i));
    const big = await c.lookup(ROOT, "big");
    const fh = (await c.call("OPENDIR", big, { flags: 0, open_flags: 0 })).body!.fh;
    const seen = new Map<string, bigint>();
    let offset = 0n;
    for (;;) {
      const r = await c.call("READDIRPLUS", big, {
        fh,
        offset,
        size: 4096,
        read_flags: 0,
        lock_owner: 0n,
        flags: 0,
        padding: 0,
      });
      assert.equal(r.error, 0);
      const list = r.body!;
      if (list.length === 0) break;
      for (const ent of list) {
        const name = dec.decode(ent.dirent.name as Uint8Array);
        if (name !== "." && name !== "..") seen.set(name, ent.entry_out.nodeid);
        offset = ent.dirent.off;
      }
    }
    assert.equal(seen.size, 500);
    assert.ok(stats(c).open <= BUDGET);
    // every counted entry is still its file
    for (const [name, nodeid] of seen) {
      const a = await getattr(c, nodeid);
      assert.equal(a.error, 0, name);
      assert.equal(a.body!.attr.size, BigInt(name.slice(1).length));
    }
  }),
);

Deno.test(
  "fd budget: a request's own descriptors are never parked under it, even past the budget",
  withServer({ maxInodeFds: 2 }, async (c, dir) => {
    Deno.mkdirSync(`${dir}/a`);
    Deno.mkdirSync(`${dir}/b`);
    Deno.writeTextFileSync(`${dir}/a/x`, "moved");
    Deno.writeTextFileSync(`${dir}/t`, "target");
    const a = await c.lookup(ROOT, "a");
    const b = await c.lookup(ROOT, "b");
    const t = await c.lookup(ROOT, "t");
    for (let round = 0; round < 2; round++) {
      // park a, b and t behind other lookups
      for (let i = 0; i < 4; i++) await c.lookup(ROOT, i % 2 ? "a" : "t");
      await c.lookup(ROOT, "b");
      assert.ok(stats(c).parked >= 1);
      const from = round === 0 ? "x" : "y";
      const to = round === 0 ? "y" : "x";
      const src = round === 0 ? a : b;
      const dst = round === 0 ? b : a;
      const mv = await c.call("RENAME2", src, {
        newdir: dst,
        flags: 0,
        padding: 0,
        oldname: from,
        newname: to,
      });
      assert.equal(mv.error, 0, `RENAME round ${round}`);
      const ln = await c.call("LINK", dst, { oldnodeid: t, newname: `t${round}` });
      assert.equal(ln.error, 0, `LINK round ${round}`);
    }
    assert.equal(Deno.readTextFileSync(`${dir}/a/x`), "moved");
    assert.equal(Deno.readTextFileSync(`${dir}/b/t0`), "target");
    assert.equal(Deno.readTextFileSync(`${dir}/a/t1`), "target");
    assert.ok(stats(c).parks >= 2 && stats(c).unparks >= 2, JSON.stringify(stats(c)));
  }),
);

Deno.test(
  "fd budget: requests on the fast path (GETATTR, LOOKUP) take turns with the descriptors too",
  withServer({ maxInodeFds: 2 }, async (c, dir) => {
    // as the transports run it: GETATTR and LOOKUP take the session's fast path
    c.server.repliesConsumedAtOnce = true;
    Deno.writeTextFileSync(`${dir}/a`, "1");
    Deno.writeTextFileSync(`${dir}/b`, "22");
    const a = await c.lookup(ROOT, "a");
    const b = await c.lookup(ROOT, "b");
    const before = stats(c);
    for (let i = 0; i < 50; i++) {
      assert.equal((await getattr(c, a)).body!.attr.size, 1n);
      assert.equal((await getattr(c, b)).body!.attr.size, 2n);
    }
    const after = stats(c);
    assert.equal(after.unparks - before.unparks, 100, "each GETATTR reopened its parked inode");
    assert.equal(after.open, 2);
  }),
);
