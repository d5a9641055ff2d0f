/**
 * Names are bytes end to end: a name that is not valid UTF-8 reaches the host
 * exactly as the client sent it (never as U+FFFD), and comes back exactly in
 * listings, READLINK and LISTXATTR.
 */
import assert from "node:assert/strict";
import * as fs from "../sys/fs.ts";
import { FUSE_ROOT_ID, nameText } from "../codecs/fuse/mod.ts";
import { E, withServer } from "./_test_client.ts";

const ROOT = BigInt(FUSE_ROOT_ID);
const O_RDWR = 2, O_CREAT = 0o100, S_IFREG = 0o100000;
const READ_IN = { read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 };

const FF_FE = new Uint8Array([0xff, 0xfe]);
const A_FF = new Uint8Array([0x61, 0xff, 0x2e, 0x74, 0x78, 0x74]); // "a\xff.txt"
const LONE_CONT = new Uint8Array([0x80, 0x62, 0xc3]); // continuation first, truncated sequence last
const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]); // what a UTF-8 decode would have made of 0xff

/** The raw names in a host directory, read with getdents64 (no decoding anywhere). */
function hostNames(dir: string): number[][] {
  const fd = fs.openat(fs.AT_FDCWD, dir, { flags: fs.O_RDONLY | fs.O_DIRECTORY });
  const buf = new Uint8Array(64 * 1024);
  const out: number[][] = [];
  try {
    for (;;) {
      const n = fs.getdents64(fd, buf);
      if (n === 0) break;
      for (const d of fs.readDirents(buf, n)) {
        const name = Array.from(d.name);
        if (nameText(d.name) !== "." && nameText(d.name) !== "..") out.push(name);
      }
    }
  } finally {
    fs.close(fd);
  }
  return out.sort((a, b) => a.join(",").localeCompare(b.join(",")));
}

function bytesOf(...names: Uint8Array[]): number[][] {
  return names.map((n) => Array.from(n)).sort((a, b) => a.join(",").localeCompare(b.join(",")));
}

Deno.test(
  "names with invalid UTF-8: create, lookup, mkdir, symlink, rename, list, xattr and unlink keep the exact bytes",
  withServer({}, async (c, dir) => {
    // CREATE 0xff 0xfe
    const cr = await c.call("CREATE", ROOT, {
      flags: O_RDWR | O_CREAT,
      mode: S_IFREG | 0o644,
      umask: 0,
      open_flags: 0,
      name: FF_FE,
    });
    assert.equal(cr.error, 0);
    assert.deepEqual(hostNames(dir), bytesOf(FF_FE), "the host holds exactly 0xff 0xfe");
    const ino = cr.body!.entry.attr.ino;

    // LOOKUP by the same bytes finds it; the U+FFFD spelling does not exist
    const lk = await c.call("LOOKUP", ROOT, { name: FF_FE });
    assert.equal(lk.error, 0);
    assert.equal(lk.body!.attr.ino, ino);
    assert.equal((await c.call("LOOKUP", ROOT, { name: REPLACEMENT })).error, E.ENOENT);
    assert.equal((await c.call("LOOKUP", ROOT, { name: "\ufffd\ufffd" })).error, E.ENOENT);

    // MKDIR and a file inside it
    const mk = await c.call("MKDIR", ROOT, { mode: 0o755, umask: 0, name: LONE_CONT });
    assert.equal(mk.error, 0);
    const sub = mk.body!.nodeid;
    const inner = await c.call("MKNOD", sub, {
      mode: S_IFREG | 0o600,
      rdev: 0,
      umask: 0,
      padding: 0,
      name: A_FF,
    });
    assert.equal(inner.error, 0);
    const subFd = fs.openat(fs.AT_FDCWD, dir, { flags: fs.O_PATH | fs.O_DIRECTORY });
    try {
      const st = fs.statx(subFd, LONE_CONT, { flags: fs.AT_SYMLINK_NOFOLLOW });
      assert.equal(st.mode & 0o170000, 0o040000, "the directory has the exact bytes on the host");
      const innerFd = fs.openat(subFd, LONE_CONT, { flags: fs.O_PATH | fs.O_DIRECTORY });
      try {
        const innerSt = fs.statx(innerFd, A_FF, { flags: fs.AT_SYMLINK_NOFOLLOW });
        assert.equal(innerSt.mode & 0o170000, 0o100000, "and the file inside it too");
      } finally {
        fs.close(innerFd);
      }
    } finally {
      fs.close(subFd);
    }

    // SYMLINK whose name and target are both invalid UTF-8; READLINK gives the target back exactly
    const target = new Uint8Array([0x2e, 0x2f, 0xfe, 0xff, 0x80]);
    const sl = await c.call("SYMLINK", ROOT, {
      name: new Uint8Array([0x6c, 0xc0]),
      linkname: target,
    });
    assert.equal(sl.error, 0);
    const rl = await c.call("READLINK", sl.body!.nodeid, {});
    assert.equal(rl.error, 0);
    assert.deepEqual(Array.from(rl.body!.link), Array.from(target));
    const rootPath = fs.openat(fs.AT_FDCWD, dir, { flags: fs.O_PATH | fs.O_DIRECTORY });
    try {
      assert.deepEqual(
        Array.from(fs.readlinkat(rootPath, new Uint8Array([0x6c, 0xc0]))),
        Array.from(target),
        "the host symlink points at the exact bytes",
      );
    } finally {
      fs.close(rootPath);
    }
    assert.equal(nameText(rl.body!.link), "./\\xfe\\xff\\x80", "shown with \\xNN escapes");

    // RENAME 0xff 0xfe -> "a\xff.txt" in the root
    const rn = await c.call("RENAME", ROOT, { newdir: ROOT, oldname: FF_FE, newname: A_FF });
    assert.equal(rn.error, 0);
    assert.deepEqual(
      hostNames(dir),
      bytesOf(A_FF, LONE_CONT, new Uint8Array([0x6c, 0xc0])),
      "renamed to the exact bytes",
    );

    // READDIR and READDIRPLUS list the exact bytes
    for (const plus of [false, true]) {
      const o = await c.call("OPENDIR", ROOT, { flags: 0, open_flags: 0 });
      assert.equal(o.error, 0);
      const fh = o.body!.fh;
      const seen: number[][] = [];
      if (plus) {
        const r = await c.call("READDIRPLUS", ROOT, { fh, offset: 0n, size: 4096, ...READ_IN });
        assert.equal(r.error, 0);
        for (const e of r.body!) seen.push(Array.from(e.dirent.name));
      } else {
        const r = await c.call("READDIR", ROOT, { fh, offset: 0n, size: 4096, ...READ_IN });
        assert.equal(r.error, 0);
        for (const e of r.body!) seen.push(Array.from(e.name));
      }
      await c.call("RELEASEDIR", ROOT, { fh, flags: 0, release_flags: 0, lock_owner: 0n });
      const listed = seen.filter((n) => !(n.length <= 2 && n.every((b) => b === 0x2e))).sort(
        (a, b) => a.join(",").localeCompare(b.join(",")),
      );
      assert.deepEqual(listed, hostNames(dir), plus ? "READDIRPLUS" : "READDIR");
    }

    // an xattr name with an invalid byte
    const xname = new Uint8Array([...new TextEncoder().encode("user.x"), 0xff]);
    const sx = await c.call("SETXATTR", lk.body!.nodeid, {
      size: 1,
      flags: 0,
      setxattr_flags: 0,
      padding: 0,
      name: xname,
      value: new Uint8Array([7]),
    });
    if (sx.error !== E.EOPNOTSUPP) {
      assert.equal(sx.error, 0);
      const gx = await c.call("GETXATTR", lk.body!.nodeid, { size: 16, padding: 0, name: xname });
      assert.equal(gx.error, 0);
      assert.deepEqual(Array.from(gx.body!.value!), [7]);
      const lx = await c.call("LISTXATTR", lk.body!.nodeid, { size: 256, padding: 0 });
      assert.equal(lx.error, 0);
      assert.deepEqual(Array.from(lx.body!.value!), [...xname, 0], "listed with its exact bytes");
    }

    // UNLINK by the exact bytes
    assert.equal((await c.call("UNLINK", ROOT, { name: A_FF })).error, 0);
    assert.equal((await c.call("UNLINK", sub, { name: A_FF })).error, 0);
    assert.equal((await c.call("RMDIR", ROOT, { name: LONE_CONT })).error, 0);
    assert.deepEqual(hostNames(dir), bytesOf(new Uint8Array([0x6c, 0xc0])));
    // a name with '/' or an exact "." / ".." is still refused
    assert.equal(
      (await c.call("UNLINK", ROOT, { name: new Uint8Array([0xff, 0x2f]) })).error,
      E.EINVAL,
    );
    assert.equal(
      (await c.call("UNLINK", ROOT, { name: new Uint8Array([0x2e, 0x2e]) })).error,
      E.EINVAL,
    );
  }),
);
