/**
 * The escape suite: every trick a client could use to reach outside the
 * shared directory, each asserted to be refused or to stay inside. Layout per
 * test: `<tmp>/outside/secret` (must never be read, written, or listed) and
 * `<tmp>/shared` (the served tree).
 */
import assert from "node:assert/strict";
import { encodeRequest, FUSE_ROOT_ID } from "../codecs/fuse/mod.ts";
import { E, setattrIn, TestClient } from "./_test_client.ts";
import { listxattr } from "../sys/fs.ts";
import { createPassthrough, type PassthroughServerOptions } from "./session.ts";

const ROOT = FUSE_ROOT_ID;
const dec = new TextDecoder();
const enc = new TextEncoder();
const O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0o100;
const S_IFREG = 0o100000, S_IFCHR = 0o020000, S_IFBLK = 0o060000;
const SECRET = "host secret";

function escapeTest(
  name: string,
  options: PassthroughServerOptions,
  fn: (c: TestClient, shared: string, outside: string) => Promise<void>,
): void {
  Deno.test(name, async () => {
    const top = Deno.makeTempDirSync({ prefix: "ringside-escape-" });
    const shared = `${top}/shared`;
    const outside = `${top}/outside`;
    Deno.mkdirSync(shared);
    Deno.mkdirSync(outside);
    Deno.writeTextFileSync(`${outside}/secret`, SECRET);
    const server = createPassthrough(shared, { log: () => {}, ...options });
    const c = new TestClient(server);
    try {
      await c.init();
      await fn(c, shared, outside);
      // whatever happened, the outside is untouched
      assert.equal(Deno.readTextFileSync(`${outside}/secret`), SECRET);
      assert.deepEqual([...Deno.readDirSync(outside)].map((e) => e.name), ["secret"]);
    } finally {
      server.close();
      Deno.removeSync(top, { recursive: true });
    }
  });
}

const readIn = (fh: bigint, size = 100) => ({
  fh,
  offset: 0n,
  size,
  read_flags: 0,
  lock_owner: 0n,
  flags: 0,
  padding: 0,
});

escapeTest("LOOKUP of .. at the root stays at the root", {}, async (c, shared) => {
  const up = await c.call("LOOKUP", ROOT, { name: ".." });
  assert.equal(up.error, 0);
  assert.equal(up.body!.nodeid, ROOT, ".. of the root is the root");
  const again = await c.call("LOOKUP", up.body!.nodeid, { name: "outside" });
  assert.equal(again.error, E.ENOENT, "the sibling directory is not reachable");
  Deno.mkdirSync(`${shared}/a/b`, { recursive: true });
  const a = await c.lookup(ROOT, "a");
  const b = await c.lookup(a, "b");
  const bUp = await c.call("LOOKUP", b, { name: ".." });
  assert.equal(bUp.body!.nodeid, a, ".. of a/b is a");
  const aUp = await c.call("LOOKUP", a, { name: ".." });
  assert.equal(aUp.body!.nodeid, ROOT);
  const dot = await c.call("LOOKUP", a, { name: "." });
  assert.equal(dot.body!.nodeid, a);
});

escapeTest("names with / or .. components are refused by every naming opcode", {}, async (c) => {
  const names = ["../outside/secret", "a/../../outside", "/etc/passwd", "x/y", ".."];
  for (const name of names) {
    if (name !== "..") {
      assert.notEqual((await c.call("LOOKUP", ROOT, { name })).error, 0, `LOOKUP ${name}`);
    }
    const results = [
      await c.call("MKDIR", ROOT, { mode: 0o755, umask: 0, name }),
      await c.call("CREATE", ROOT, {
        flags: O_RDWR | O_CREAT,
        mode: S_IFREG | 0o644,
        umask: 0,
        open_flags: 0,
        name,
      }),
      await c.call("UNLINK", ROOT, { name }),
      await c.call("RMDIR", ROOT, { name }),
      await c.call("SYMLINK", ROOT, { name, linkname: "x" }),
      await c.call("MKNOD", ROOT, { mode: 0o010644, rdev: 0, umask: 0, padding: 0, name }),
      await c.call("RENAME", ROOT, { newdir: ROOT, oldname: name, newname: "x" }),
      await c.call("RENAME", ROOT, { newdir: ROOT, oldname: "x", newname: name }),
      await c.call("LINK", ROOT, { oldnodeid: ROOT, newname: name }),
    ];
    for (const r of results) assert.ok(r.error !== 0, `refused: ${name}`);
  }
});

escapeTest("absolute and relative symlinks pointing out are never followed", {}, async (
  c,
  shared,
  outside,
) => {
  Deno.symlinkSync(`${outside}/secret`, `${shared}/abs`);
  Deno.symlinkSync("../outside/secret", `${shared}/rel`);
  Deno.symlinkSync(outside, `${shared}/absdir`);
  Deno.symlinkSync("../outside", `${shared}/reldir`);
  for (const name of ["abs", "rel"]) {
    const e = await c.call("LOOKUP", ROOT, { name });
    assert.equal(e.body!.attr.mode & 0o170000, 0o120000, `${name} is seen as a symlink`);
    const id = e.body!.nodeid;
    assert.equal((await c.call("OPEN", id, { flags: O_RDONLY, open_flags: 0 })).error, E.ELOOP);
    assert.equal((await c.call("OPEN", id, { flags: O_RDWR, open_flags: 0 })).error, E.ELOOP);
    const sizeSet = await c.call("SETATTR", id, setattrIn({ valid: 8 }));
    assert.equal(sizeSet.error, E.EINVAL, "truncate of a symlink never reaches its target");
    const chmod = await c.call("SETATTR", id, setattrIn({ valid: 1, mode: 0o777 }));
    assert.notEqual(chmod.error, 0);
    const chown = await c.call("SETATTR", id, setattrIn({ valid: 2, uid: 4242 }));
    assert.equal(chown.error, 0);
    assert.equal(chown.body!.attr.mode & 0o170000, 0o120000, "chown applied to the link itself");
    const g = await c.call("GETATTR", id, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(g.body!.attr.mode & 0o170000, 0o120000, "attributes are the link's");
    // xattrs of the link, not the target
    const set = await c.call("SETXATTR", id, {
      size: 1,
      flags: 0,
      setxattr_flags: 0,
      padding: 0,
      name: "trusted.ringside",
      value: enc.encode("x"),
    });
    assert.equal(set.error, 0, "the link's own xattr");
    const linked = await c.call("LINK", ROOT, { oldnodeid: id, newname: `${name}-hard` });
    assert.equal(linked.error, 0);
    assert.ok(
      Deno.lstatSync(`${shared}/${name}-hard`).isSymlink,
      "hard link to the link, not the target",
    );
  }
  assert.equal(Deno.lstatSync(`${outside}/secret`).uid, 0, "the target's owner is untouched");
  assert.equal(listxattr(`${outside}/secret`, new Uint8Array(256)), 0, "no xattr on the target");
  for (const name of ["absdir", "reldir"]) {
    const id = await c.lookup(ROOT, name);
    assert.equal((await c.call("LOOKUP", id, { name: "secret" })).error, E.ENOTDIR);
    assert.equal(
      (await c.call("OPENDIR", id, { flags: O_RDONLY, open_flags: 0 })).error,
      E.ENOTDIR,
    );
    assert.equal(
      (await c.call("CREATE", id, {
        flags: O_RDWR | O_CREAT,
        mode: S_IFREG | 0o644,
        umask: 0,
        open_flags: 0,
        name: "planted",
      })).error,
      E.ENOTDIR,
    );
    assert.equal(
      (await c.call("MKDIR", id, { mode: 0o755, umask: 0, name: "p" })).error,
      E.ENOTDIR,
    );
    assert.equal(
      (await c.call("RENAME", ROOT, { newdir: id, oldname: "abs", newname: "moved" })).error,
      E.ENOTDIR,
    );
    assert.equal(
      (await c.call("TMPFILE", id, {
        flags: O_RDWR,
        mode: S_IFREG | 0o600,
        umask: 0,
        open_flags: 0,
        name: "",
      })).error,
      E.ENOTDIR,
    );
  }
  // CREATE on a name that is a symlink out refuses instead of following it
  const cr = await c.call("CREATE", ROOT, {
    flags: O_RDWR | O_CREAT,
    mode: S_IFREG | 0o644,
    umask: 0,
    open_flags: 0,
    name: "abs",
  });
  assert.equal(cr.error, E.ELOOP);
  const cr2 = await c.call("CREATE", ROOT, {
    flags: O_RDWR | O_CREAT | 0o1000,
    mode: S_IFREG | 0o644,
    umask: 0,
    open_flags: 0,
    name: "rel",
  });
  assert.equal(cr2.error, E.ELOOP);
});

escapeTest(
  "a symlink swapped in under an open handle or a held node id changes nothing",
  {},
  async (
    c,
    shared,
    outside,
  ) => {
    Deno.writeTextFileSync(`${shared}/f`, "inside");
    const id = await c.lookup(ROOT, "f");
    const fh = await c.open(id, O_RDWR);
    // the host (or another client) swaps the name for a symlink out
    Deno.renameSync(`${shared}/f`, `${shared}/f.old`);
    Deno.symlinkSync(`${outside}/secret`, `${shared}/f`);
    const r = await c.call("READ", id, readIn(fh));
    assert.equal(dec.decode(r.body!.data), "inside", "the handle reads the object it opened");
    await c.call("WRITE", id, {
      fh,
      offset: 0n,
      size: 6,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data: enc.encode("INSIDE"),
    });
    assert.equal(Deno.readTextFileSync(`${shared}/f.old`), "INSIDE");
    // the held node id still names the original object
    const fh2 = await c.open(id, O_RDONLY);
    assert.equal(dec.decode((await c.call("READ", id, readIn(fh2))).body!.data), "INSIDE");
    const trunc = await c.call("SETATTR", id, setattrIn({ valid: 8, size: 2n }));
    assert.equal(trunc.error, 0);
    assert.equal(Deno.readTextFileSync(`${shared}/f.old`), "IN");
    // a new lookup of the name sees the symlink, which does not open
    const swapped = await c.call("LOOKUP", ROOT, { name: "f" });
    assert.notEqual(swapped.body!.nodeid, id);
    assert.equal(
      (await c.call("OPEN", swapped.body!.nodeid, { flags: O_RDONLY, open_flags: 0 })).error,
      E.ELOOP,
    );
    // a directory swapped for a symlink: children are looked up in the held directory
    Deno.mkdirSync(`${shared}/d`);
    const d = await c.lookup(ROOT, "d");
    Deno.renameSync(`${shared}/d`, `${shared}/d.old`);
    Deno.symlinkSync(outside, `${shared}/d`);
    assert.equal((await c.call("LOOKUP", d, { name: "secret" })).error, E.ENOENT);
    const made = await c.call("MKNOD", d, {
      mode: 0o100644,
      rdev: 0,
      umask: 0,
      padding: 0,
      name: "n",
    });
    assert.equal(made.error, 0);
    assert.ok(Deno.statSync(`${shared}/d.old/n`).isFile, "created in the held directory");
  },
);

escapeTest("rename and link through node ids stay inside the tree", {}, async (c, shared) => {
  Deno.writeTextFileSync(`${shared}/f`, "x");
  Deno.mkdirSync(`${shared}/d`);
  const d = await c.lookup(ROOT, "d");
  const f = await c.lookup(ROOT, "f");
  // rename into a node id that is not a directory, forgotten, or never issued
  assert.equal(
    (await c.call("RENAME", ROOT, { newdir: f, oldname: "f", newname: "g" })).error,
    E.ENOTDIR,
  );
  assert.equal(
    (await c.call("RENAME", ROOT, { newdir: 0xdeadbeefn, oldname: "f", newname: "g" })).error,
    E.ESTALE,
  );
  assert.equal(
    (await c.call("RENAME2", ROOT, {
      newdir: 0n,
      flags: 0,
      padding: 0,
      oldname: "f",
      newname: "g",
    })).error,
    E.ESTALE,
  );
  assert.equal((await c.call("LINK", 77n, { oldnodeid: f, newname: "g" })).error, E.ESTALE);
  assert.equal(
    (await c.call("LINK", ROOT, { oldnodeid: 1n << 40n, newname: "g" })).error,
    E.ESTALE,
  );
  // a directory moved below itself is refused by the host
  assert.equal(
    (await c.call("RENAME", ROOT, { newdir: d, oldname: "d", newname: "self" })).error,
    E.EINVAL,
  );
  // renaming the root's entries around is fine and stays inside
  assert.equal((await c.call("RENAME", ROOT, { newdir: d, oldname: "f", newname: "f2" })).error, 0);
  assert.ok(Deno.statSync(`${shared}/d/f2`).isFile);
  // LINK of the root is refused (a directory)
  assert.equal((await c.call("LINK", d, { oldnodeid: ROOT, newname: "root" })).error, E.EPERM);
});

escapeTest(
  "forgotten and never-issued node ids, handles of other sessions",
  {},
  async (c, shared) => {
    Deno.writeTextFileSync(`${shared}/f`, "mine");
    const id = await c.lookup(ROOT, "f");
    const fh = await c.open(id, O_RDONLY);
    for (const bogus of [0n, 2n, 3n, id + 1n, id - 1n, 0xffffffffffffffffn]) {
      assert.equal(
        (await c.call("GETATTR", bogus, { getattr_flags: 0, dummy: 0, fh: 0n })).error,
        E.ESTALE,
        `nodeid ${bogus}`,
      );
      assert.equal((await c.call("LOOKUP", bogus, { name: "f" })).error, E.ESTALE);
      assert.equal(
        (await c.call("OPEN", bogus, { flags: O_RDONLY, open_flags: 0 })).error,
        E.ESTALE,
      );
    }
    for (const bogus of [0n, 1n, fh + 1n, fh - 1n]) {
      assert.equal((await c.call("READ", id, readIn(bogus))).error, E.EBADF, `fh ${bogus}`);
    }
    await c.call("FORGET", id, { nlookup: 1n });
    assert.equal(
      (await c.call("GETATTR", id, { getattr_flags: 0, dummy: 0, fh: 0n })).error,
      E.ESTALE,
    );
    // another session over another directory: our node ids and handles mean nothing there
    const otherDir = Deno.makeTempDirSync({ prefix: "ringside-escape-other-" });
    Deno.writeTextFileSync(`${otherDir}/f`, "theirs");
    const other = new TestClient(createPassthrough(otherDir, { log: () => {} }));
    try {
      await other.init();
      const theirId = await other.lookup(ROOT, "f");
      const theirFh = await other.open(theirId, O_RDONLY);
      assert.equal((await c.call("READ", id, readIn(theirFh))).error, E.EBADF);
      assert.equal(
        (await c.call("GETATTR", theirId, { getattr_flags: 0, dummy: 0, fh: 0n })).error,
        E.ESTALE,
      );
      assert.equal((await other.call("READ", theirId, readIn(fh))).error, E.EBADF);
    } finally {
      other.server.close();
      Deno.removeSync(otherDir, { recursive: true });
    }
  },
);

escapeTest("/proc magic links inside the tree are symlinks that never open", {}, async (
  c,
  shared,
) => {
  Deno.mkdirSync(`${shared}/proc`);
  const mount = new Deno.Command("mount", { args: ["-t", "proc", "proc", `${shared}/proc`] })
    .outputSync();
  assert.ok(mount.success, `mount proc: ${dec.decode(mount.stderr)}`);
  try {
    const proc = await c.lookup(ROOT, "proc");
    const self = await c.call("LOOKUP", proc, { name: "self" });
    assert.equal(self.body!.attr.mode & 0o170000, 0o120000, "self is a symlink, not followed");
    assert.equal(
      (await c.call("LOOKUP", self.body!.nodeid, { name: "root" })).error,
      E.ENOTDIR,
    );
    const pid = await c.lookup(proc, String(Deno.pid));
    for (const name of ["root", "cwd", "exe"]) {
      const e = await c.call("LOOKUP", pid, { name });
      assert.equal(e.error, 0);
      assert.equal(e.body!.attr.mode & 0o170000, 0o120000, `${name} stays a link`);
      const id = e.body!.nodeid;
      assert.equal((await c.call("OPEN", id, { flags: O_RDONLY, open_flags: 0 })).error, E.ELOOP);
      assert.equal(
        (await c.call("OPENDIR", id, { flags: O_RDONLY, open_flags: 0 })).error,
        E.ENOTDIR,
      );
      assert.equal((await c.call("LOOKUP", id, { name: "etc" })).error, E.ENOTDIR);
    }
    const fdDir = await c.lookup(pid, "fd");
    const o = await c.call("OPENDIR", fdDir, { flags: O_RDONLY, open_flags: 0 });
    const list = await c.call("READDIRPLUS", fdDir, { ...readIn(o.body!.fh, 65536) });
    for (const e of list.body!.entries) {
      if (e.entry_out.nodeid === 0n) continue;
      const r = await c.call("OPEN", e.entry_out.nodeid, { flags: O_RDONLY, open_flags: 0 });
      assert.equal(r.error, E.ELOOP, `fd/${e.dirent.name} does not open`);
    }
  } finally {
    c.server.handler.reset();
    new Deno.Command("umount", { args: ["-l", `${shared}/proc`] }).outputSync();
  }
});

escapeTest("device nodes: refused when not allowed, never opened by the server", {
  allowDevices: false,
}, async (c, shared) => {
  for (const type of [S_IFCHR, S_IFBLK]) {
    const r = await c.call("MKNOD", ROOT, {
      mode: type | 0o666,
      rdev: (1 << 8) | 3,
      umask: 0,
      padding: 0,
      name: "dev",
    });
    assert.equal(r.error, E.EPERM);
  }
  assert.deepEqual([...Deno.readDirSync(shared)], []);
  // a device node placed by the host: the server does not open it
  const mk = new Deno.Command("mknod", { args: [`${shared}/mem`, "c", "1", "1"] }).outputSync();
  assert.ok(mk.success);
  const id = await c.lookup(ROOT, "mem");
  assert.equal((await c.call("OPEN", id, { flags: O_RDONLY, open_flags: 0 })).error, E.ENXIO);
  assert.equal((await c.call("OPEN", id, { flags: O_RDWR, open_flags: 0 })).error, E.ENXIO);
  const trunc = await c.call("SETATTR", id, setattrIn({ valid: 8 }));
  assert.equal(trunc.error, E.EINVAL);
});

escapeTest("a non-root caller cannot create devices even when devices are allowed", {}, async (
  c,
  shared,
) => {
  Deno.chmodSync(shared, 0o777);
  const r = await c.call("MKNOD", ROOT, {
    mode: S_IFCHR | 0o666,
    rdev: (1 << 8) | 1,
    umask: 0,
    padding: 0,
    name: "mem",
  }, { uid: 1000, gid: 1000 });
  assert.equal(r.error, E.EPERM);
  assert.deepEqual([...Deno.readDirSync(shared)], []);
});

escapeTest(
  "a name without its NUL terminator is refused, not read past",
  {},
  async (
    c,
  ) => {
    await Promise.resolve();
    // a LOOKUP whose name runs to the end of the message without NUL
    const bytes = encodeRequest({
      op: "LOOKUP",
      header: { unique: 900n, nodeid: ROOT },
      body: { name: "ab" },
    });
    bytes[bytes.length - 1] = 0x2f; // "ab/" with no terminator
    const r = c.raw(bytes) as Uint8Array;
    assert.equal(new DataView(r.buffer).getInt32(4, true), -E.EINVAL);
  },
);

escapeTest("LOOKUP of .. from a directory the host moved outside is refused", {}, async (
  c,
  shared,
  outside,
) => {
  Deno.mkdirSync(`${shared}/a/b`, { recursive: true });
  const a = await c.lookup(ROOT, "a");
  const b = await c.lookup(a, "b");
  Deno.renameSync(`${shared}/a`, `${outside}/a`);
  assert.equal((await c.call("LOOKUP", b, { name: ".." })).error, E.EACCES);
  assert.equal((await c.call("LOOKUP", a, { name: ".." })).error, E.EACCES);
  Deno.renameSync(`${outside}/a`, `${shared}/a`);
  assert.equal((await c.call("LOOKUP", b, { name: ".." })).body!.nodeid, a);
});
