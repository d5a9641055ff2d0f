import assert from "node:assert/strict";
import {
  decodeReply,
  encodeRequest,
  FATTR,
  FUSE_ROOT_ID,
  type FuseName,
  InitFlag,
  initFlagsWord,
  Opcode,
} from "../codecs/fuse/mod.ts";
import { E, setattrIn, TestClient, withServer } from "./_test_client.ts";
import { createPassthrough } from "./session.ts";

const ROOT = FUSE_ROOT_ID;
const enc = new TextEncoder();
const dec = new TextDecoder();
const O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200, O_APPEND = 0o2000;
const S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFLNK = 0o120000, S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;

async function create(c: TestClient, parent: bigint, name: string, mode = 0o644, flags = O_RDWR) {
  const r = await c.call("CREATE", parent, {
    flags: flags | O_CREAT,
    mode: S_IFREG | mode,
    umask: 0,
    open_flags: 0,
    name,
  });
  assert.equal(r.error, 0, `CREATE ${name}`);
  return { nodeid: r.body!.entry.nodeid, fh: r.body!.open.fh, attr: r.body!.entry.attr };
}

Deno.test(
  "INIT: answers the highest common minor, grants only offered and honoured flags",
  withServer({}, async (c) => {
    const out = await c.init(45);
    assert.equal(out.major, 7);
    assert.equal(out.minor, 45);
    const granted = initFlagsWord(out.flags, out.flags2);
    assert.ok((granted & InitFlag.POSIX_LOCKS) !== 0n);
    assert.ok((granted & InitFlag.DO_READDIRPLUS) !== 0n);
    assert.ok((granted & InitFlag.CREATE_SUPP_GROUP) !== 0n);
    assert.equal(granted & InitFlag.WRITEBACK_CACHE, 0n, "writeback not asked for");
    assert.equal(granted & InitFlag.SPLICE_READ, 0n, "not honoured, not granted");
    assert.equal(granted & InitFlag.DONT_MASK, 0n);
    assert.equal(out.max_write, 1 << 20);
    // the kernel offers little: we grant no more than it offered
    const few = await c.init(45, InitFlag.ASYNC_READ | InitFlag.INIT_EXT);
    assert.equal(initFlagsWord(few.flags, few.flags2), InitFlag.ASYNC_READ | InitFlag.INIT_EXT);
  }, false),
);

Deno.test(
  "INIT: 16-byte init_in of old minors, newer major, major 6, requests before INIT",
  withServer({}, async (c) => {
    // before INIT, nothing but INIT is served
    const early = await c.call("GETATTR", ROOT, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(early.error, E.EIO);
    // 7.12 (16-byte init_in, 24-byte init_out)
    const bytes = encodeRequest({
      op: "INIT",
      header: { unique: 99n },
      body: { major: 7, minor: 12, max_readahead: 4096, flags: 0xffffffff, flags2: 0 },
    }, { minor: 12 });
    assert.equal(bytes.length, 40 + 16);
    const raw = c.raw(bytes) as Uint8Array;
    assert.equal(raw.length, 16 + 24, "init_out of a 7.12 peer is 24 bytes");
    const r = decodeReply(raw, { opcode: Opcode.INIT, minor: 12 });
    assert.ok(r.op === "INIT" && r.body !== null);
    assert.equal(r.body.minor, 12);
    assert.equal(r.body.flags2, 0);
    c.minor = 12;
    const a = await c.call("GETATTR", ROOT, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(a.error, 0);
    assert.equal(a.raw!.length, 16 + 104);
    // 7.8: attr replies shrink to the compat size
    await c.init(8);
    const a8 = await c.call("GETATTR", ROOT, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(a8.raw!.length, 16 + 96);
    // 64-byte init_in at 7.36+
    const out = await c.init(38);
    assert.equal(out.minor, 38);
    // newer major: we answer with major 7 so the kernel retries
    const major8 = await c.call("INIT", 0n, {
      major: 8,
      minor: 0,
      max_readahead: 0,
      flags: 0,
      flags2: 0,
    });
    assert.equal(major8.body!.major, 7);
    const major6 = await c.call("INIT", 0n, {
      major: 6,
      minor: 0,
      max_readahead: 0,
      flags: 0,
      flags2: 0,
    });
    assert.equal(major6.error, E.EPROTO);
  }, false),
);

Deno.test(
  "INIT twice without DESTROY resets node ids and handles; DESTROY ends the session",
  withServer({}, async (c) => {
    const f = await create(c, ROOT, "f");
    assert.equal(c.server.handler.inodes.size, 2);
    await c.init();
    assert.equal(c.server.handler.inodes.size, 1, "only the root is left");
    assert.equal(c.server.handler.handles.size, 0);
    const stale = await c.call("GETATTR", f.nodeid, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(stale.error, E.ESTALE);
    const buf = await c.call("READ", f.nodeid, {
      fh: f.fh,
      offset: 0n,
      size: 10,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.equal(buf.error, E.EBADF);
    const d = await c.call("DESTROY", 0n, {});
    assert.equal(d.error, 0);
    const after = await c.call("GETATTR", ROOT, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(after.error, E.EIO);
    await c.init();
    assert.equal((await c.call("GETATTR", ROOT, { getattr_flags: 0, dummy: 0, fh: 0n })).error, 0);
  }),
);

Deno.test(
  "LOOKUP, GETATTR, STATX, FORGET, BATCH_FORGET keep exact lookup counts",
  withServer({}, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/a`, "hello");
    const missing = await c.call("LOOKUP", ROOT, { name: "nope" });
    assert.equal(missing.error, E.ENOENT);
    const id = await c.lookup(ROOT, "a");
    assert.equal(await c.lookup(ROOT, "a"), id, "same host object, same node id");
    const inode = c.server.handler.inodes.get(id);
    assert.equal(inode.nlookup, 2);
    const g = await c.call("GETATTR", id, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(g.body!.attr.size, 5n);
    assert.equal(g.body!.attr.mode, S_IFREG | 0o644);
    const sx = await c.call("STATX", id, {
      getattr_flags: 0,
      reserved: 0,
      fh: 0n,
      sx_flags: 0,
      sx_mask: 0xfff,
    });
    assert.equal(sx.error, 0);
    assert.equal(sx.body!.stat.size, 5n);
    assert.equal(
      sx.body!.stat.ino,
      Deno.statSync(`${dir}/a`).ino! === null ? 0n : BigInt(Deno.statSync(`${dir}/a`).ino!),
    );
    const notDir = await c.call("LOOKUP", id, { name: "x" });
    assert.equal(notDir.error, E.ENOTDIR);
    assert.equal(await c.call("FORGET", id, { nlookup: 1n }).then((r) => r.raw), null);
    assert.equal(inode.nlookup, 1);
    assert.equal(
      (await c.call("BATCH_FORGET", 0n, {
        count: 2,
        dummy: 0,
        forgets: [{ nodeid: id, nlookup: 1n }, { nodeid: 12345n, nlookup: 1n }],
      })).raw,
      null,
    );
    assert.equal(c.server.handler.inodes.size, 1, "forgotten inode left the table");
    const gone = await c.call("GETATTR", id, { getattr_flags: 0, dummy: 0, fh: 0n });
    assert.equal(gone.error, E.ESTALE);
    const stx = await c.call("STATX", id, {
      getattr_flags: 0,
      reserved: 0,
      fh: 0n,
      sx_flags: 0,
      sx_mask: 0,
    });
    assert.equal(stx.error, E.ESTALE);
  }),
);

Deno.test(
  "SETATTR: mode, owner, size, times incl. NOW, ctime, through a handle; errors",
  withServer({}, async (c, dir) => {
    const f = await create(c, ROOT, "f");
    const base = setattrIn({});
    let r = await c.call("SETATTR", f.nodeid, { ...base, valid: FATTR.FATTR_MODE, mode: 0o4755 });
    assert.equal(r.body!.attr.mode, S_IFREG | 0o4755);
    r = await c.call("SETATTR", f.nodeid, {
      ...base,
      valid: FATTR.FATTR_UID | FATTR.FATTR_GID,
      uid: 65534,
      gid: 65533,
    });
    assert.equal(r.body!.attr.uid, 65534);
    assert.equal(r.body!.attr.gid, 65533);
    r = await c.call("SETATTR", f.nodeid, { ...base, valid: FATTR.FATTR_SIZE, size: 1000n });
    assert.equal(Deno.statSync(`${dir}/f`).size, 1000);
    r = await c.call("SETATTR", f.nodeid, {
      ...base,
      valid: FATTR.FATTR_SIZE | FATTR.FATTR_FH,
      fh: f.fh,
      size: 10n,
    });
    assert.equal(r.body!.attr.size, 10n);
    r = await c.call("SETATTR", f.nodeid, {
      ...base,
      valid: FATTR.FATTR_ATIME | FATTR.FATTR_MTIME,
      atime: 1000n,
      atimensec: 7,
      mtime: 2000n,
      mtimensec: 9,
    });
    assert.equal(r.body!.attr.atime, 1000n);
    assert.equal(r.body!.attr.atimensec, 7);
    assert.equal(r.body!.attr.mtime, 2000n);
    r = await c.call("SETATTR", f.nodeid, {
      ...base,
      valid: FATTR.FATTR_MTIME | FATTR.FATTR_MTIME_NOW,
    });
    assert.ok(r.body!.attr.mtime > 2000n, "MTIME_NOW moved mtime to now");
    assert.equal(r.body!.attr.atime, 1000n, "atime omitted");
    const before = r.body!.attr.ctime * 1_000_000_000n + BigInt(r.body!.attr.ctimensec);
    await new Promise((ok) => setTimeout(ok, 5));
    r = await c.call("SETATTR", f.nodeid, { ...base, valid: FATTR.FATTR_CTIME, ctime: 1n });
    const after = r.body!.attr.ctime * 1_000_000_000n + BigInt(r.body!.attr.ctimensec);
    assert.ok(after > before, "ctime moves forward");
    // kill suid on truncate
    r = await c.call("SETATTR", f.nodeid, {
      ...base,
      valid: FATTR.FATTR_SIZE | FATTR.FATTR_KILL_SUIDGID,
      size: 0n,
    });
    assert.equal(r.body!.attr.mode & 0o7777, 0o755);
    const dirId = await c.call("MKDIR", ROOT, { mode: 0o755, umask: 0, name: "d" });
    const e = await c.call("SETATTR", dirId.body!.nodeid, {
      ...base,
      valid: FATTR.FATTR_SIZE,
      size: 1n,
    });
    assert.equal(e.error, E.EISDIR);
    const bad = await c.call("SETATTR", f.nodeid, {
      ...base,
      valid: FATTR.FATTR_FH | FATTR.FATTR_SIZE,
      fh: 77n,
    });
    assert.equal(bad.error, E.EBADF);
  }),
);

Deno.test(
  "SYMLINK, READLINK, MKNOD, MKDIR, UNLINK, RMDIR and their errors",
  withServer({}, async (c, dir) => {
    const s = await c.call("SYMLINK", ROOT, { name: "ln", linkname: "../../etc/passwd" });
    assert.equal(s.error, 0);
    assert.equal(s.body!.attr.mode & 0o170000, S_IFLNK);
    const rl = await c.call("READLINK", s.body!.nodeid, {});
    assert.equal(rl.body!.link.text, "../../etc/passwd");
    assert.equal((await c.call("SYMLINK", ROOT, { name: "ln", linkname: "x" })).error, E.EEXIST);
    assert.equal((await c.call("READLINK", ROOT, {})).error, E.EINVAL);
    const fifo = await c.call("MKNOD", ROOT, {
      mode: S_IFIFO | 0o640,
      rdev: 0,
      umask: 0,
      padding: 0,
      name: "p",
    });
    assert.equal(fifo.body!.attr.mode, S_IFIFO | 0o640);
    const chr = await c.call("MKNOD", ROOT, {
      mode: S_IFCHR | 0o600,
      rdev: (1 << 8) | 3,
      umask: 0,
      padding: 0,
      name: "null",
    });
    assert.equal(chr.body!.attr.rdev, (1 << 8) | 3);
    assert.equal(
      (await c.call("MKNOD", ROOT, {
        mode: S_IFIFO | 0o600,
        rdev: 0,
        umask: 0,
        padding: 0,
        name: "p",
      })).error,
      E.EEXIST,
    );
    const d = await c.call("MKDIR", ROOT, { mode: 0o750, umask: 0, name: "d" });
    assert.equal(d.body!.attr.mode, S_IFDIR | 0o750);
    assert.equal(
      (await c.call("MKDIR", ROOT, { mode: 0o750, umask: 0, name: "d" })).error,
      E.EEXIST,
    );
    await create(c, d.body!.nodeid, "inner");
    assert.equal((await c.call("RMDIR", ROOT, { name: "d" })).error, E.ENOTEMPTY);
    assert.equal((await c.call("UNLINK", ROOT, { name: "d" })).error, E.EISDIR);
    assert.equal((await c.call("UNLINK", d.body!.nodeid, { name: "inner" })).error, 0);
    assert.equal((await c.call("RMDIR", ROOT, { name: "d" })).error, 0);
    assert.equal((await c.call("UNLINK", ROOT, { name: "p" })).error, 0);
    assert.equal((await c.call("UNLINK", ROOT, { name: "p" })).error, E.ENOENT);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["ln", "null"]);
  }),
);

Deno.test(
  "RENAME and RENAME2 (NOREPLACE, EXCHANGE, WHITEOUT), LINK",
  withServer({}, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/a`, "A");
    Deno.writeTextFileSync(`${dir}/b`, "B");
    Deno.mkdirSync(`${dir}/d`);
    const d = await c.lookup(ROOT, "d");
    assert.equal(
      (await c.call("RENAME", ROOT, { newdir: d, oldname: "a", newname: "a2" })).error,
      0,
    );
    assert.equal(Deno.readTextFileSync(`${dir}/d/a2`), "A");
    assert.equal(
      (await c.call("RENAME", ROOT, { newdir: d, oldname: "zz", newname: "a2" })).error,
      E.ENOENT,
    );
    const noreplace = await c.call("RENAME2", d, {
      newdir: ROOT,
      flags: 1,
      padding: 0,
      oldname: "a2",
      newname: "b",
    });
    assert.equal(noreplace.error, E.EEXIST);
    const ex = await c.call("RENAME2", d, {
      newdir: ROOT,
      flags: 2,
      padding: 0,
      oldname: "a2",
      newname: "b",
    });
    assert.equal(ex.error, 0);
    assert.equal(Deno.readTextFileSync(`${dir}/b`), "A");
    assert.equal(Deno.readTextFileSync(`${dir}/d/a2`), "B");
    const wh = await c.call("RENAME2", ROOT, {
      newdir: ROOT,
      flags: 4,
      padding: 0,
      oldname: "b",
      newname: "c",
    });
    assert.equal(wh.error, 0);
    assert.ok(Deno.lstatSync(`${dir}/b`).isCharDevice, "whiteout left behind");
    const badFlags = await c.call("RENAME2", ROOT, {
      newdir: ROOT,
      flags: 8,
      padding: 0,
      oldname: "c",
      newname: "e",
    });
    assert.equal(badFlags.error, E.EINVAL);
    const cId = await c.lookup(ROOT, "c");
    const l = await c.call("LINK", d, { oldnodeid: cId, newname: "hard" });
    assert.equal(l.error, 0);
    assert.equal(l.body!.nodeid, cId, "a hard link is the same node");
    assert.equal(l.body!.attr.nlink, 2);
    assert.equal((await c.call("LINK", ROOT, { oldnodeid: d, newname: "dl" })).error, E.EPERM);
    assert.equal((await c.call("LINK", ROOT, { oldnodeid: cId, newname: "c" })).error, E.EEXIST);
  }),
);

Deno.test(
  "OPEN, READ, WRITE (O_APPEND, kill suid), FLUSH, FSYNC, RELEASE, LSEEK, FALLOCATE, COPY_FILE_RANGE",
  withServer({}, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/f`, "0123456789");
    const id = await c.lookup(ROOT, "f");
    const fh = await c.open(id, O_RDWR);
    const rd = (fh: bigint, offset: bigint, size: number) =>
      c.call("READ", id, { fh, offset, size, read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 });
    assert.equal(dec.decode((await rd(fh, 3n, 4)).body!.data), "3456");
    assert.equal((await rd(fh, 100n, 4)).body!.data.length, 0);
    const wr = (fh: bigint, offset: bigint, text: string, write_flags = 0) =>
      c.call("WRITE", id, {
        fh,
        offset,
        size: text.length,
        write_flags,
        lock_owner: 0n,
        flags: 0,
        padding: 0,
        data: enc.encode(text),
      });
    assert.equal((await wr(fh, 2n, "ab")).body!.size, 2);
    assert.equal(Deno.readTextFileSync(`${dir}/f`), "01ab456789");
    const ap = await c.open(id, O_WRONLY | O_APPEND);
    await wr(ap, 0n, "END");
    assert.equal(Deno.readTextFileSync(`${dir}/f`), "01ab456789END");
    Deno.chmodSync(`${dir}/f`, 0o6755);
    await wr(fh, 0n, "x", 4);
    assert.equal(
      Deno.statSync(`${dir}/f`).mode! & 0o7777,
      0o755,
      "KILL_SUIDGID cleared set-id bits",
    );
    assert.equal(
      (await c.call("FLUSH", id, { fh, unused: 0, padding: 0, lock_owner: 5n })).error,
      0,
    );
    assert.equal((await c.call("FSYNC", id, { fh, fsync_flags: 0, padding: 0 })).error, 0);
    assert.equal((await c.call("FSYNC", id, { fh, fsync_flags: 1, padding: 0 })).error, 0);
    // sparse file, SEEK_DATA / SEEK_HOLE
    const al = await c.call("FALLOCATE", id, {
      fh,
      offset: 1n << 20n,
      length: 4096n,
      mode: 0,
      padding: 0,
    });
    assert.equal(al.error, 0);
    assert.equal(Deno.statSync(`${dir}/f`).size, (1 << 20) + 4096);
    const hole = await c.call("LSEEK", id, { fh, offset: 0n, whence: 4, padding: 0 });
    assert.equal(hole.error, 0);
    assert.ok(hole.body!.offset >= 13n);
    const data = await c.call("LSEEK", id, { fh, offset: 0n, whence: 3, padding: 0 });
    assert.equal(data.body!.offset, 0n);
    const past = await c.call("LSEEK", id, { fh, offset: 1n << 30n, whence: 3, padding: 0 });
    assert.equal(past.error, E.ENXIO);
    const badMode = await c.call("FALLOCATE", id, {
      fh,
      offset: 0n,
      length: 1n,
      mode: 0x2,
      padding: 0,
    });
    assert.equal(badMode.error, 95 /* PUNCH_HOLE needs KEEP_SIZE */);
    const g = await create(c, ROOT, "g");
    const cp = await c.call("COPY_FILE_RANGE", id, {
      fh_in: fh,
      off_in: 2n,
      nodeid_out: g.nodeid,
      fh_out: g.fh,
      off_out: 0n,
      len: 3n,
      flags: 0n,
    });
    assert.equal(cp.body!.size, 3);
    assert.equal(Deno.readTextFileSync(`${dir}/g`), "ab4");
    const cp64 = await c.call("COPY_FILE_RANGE_64", id, {
      fh_in: fh,
      off_in: 0n,
      nodeid_out: g.nodeid,
      fh_out: g.fh,
      off_out: 3n,
      len: 2n,
      flags: 0n,
    });
    assert.equal(cp64.body!.bytes_copied, 2n);
    const cpBad = await c.call("COPY_FILE_RANGE", id, {
      fh_in: fh,
      off_in: 0n,
      nodeid_out: g.nodeid,
      fh_out: 4242n,
      off_out: 0n,
      len: 1n,
      flags: 0n,
    });
    assert.equal(cpBad.error, E.EBADF);
    for (const h of [fh, ap, g.fh]) {
      assert.equal(
        (await c.call("RELEASE", id, { fh: h, flags: 0, release_flags: 0, lock_owner: 0n })).error,
        0,
      );
    }
    assert.equal(
      (await c.call("RELEASE", id, { fh, flags: 0, release_flags: 0, lock_owner: 0n })).error,
      E.EBADF,
    );
    assert.equal((await rd(fh, 0n, 1)).error, E.EBADF);
    assert.equal((await c.call("FSYNC", id, { fh, fsync_flags: 0, padding: 0 })).error, E.EBADF);
    assert.equal((await c.call("OPEN", ROOT, { flags: O_RDONLY, open_flags: 0 })).error, E.EISDIR);
    assert.equal(c.server.handler.handles.size, 0);
  }),
);

Deno.test(
  "CREATE and TMPFILE run as the caller; CREATE with O_EXCL fails on an existing name",
  withServer({}, async (c, dir) => {
    Deno.chmodSync(dir, 0o777);
    const r = await c.call("CREATE", ROOT, {
      flags: O_RDWR | O_CREAT | O_EXCL,
      mode: S_IFREG | 0o640,
      umask: 0o022,
      open_flags: 0,
      name: "mine",
    }, { uid: 1234, gid: 4321, groups: [4321, 99] });
    assert.equal(r.error, 0);
    assert.equal(r.body!.entry.attr.uid, 1234);
    assert.equal(r.body!.entry.attr.gid, 4321);
    assert.equal(Deno.statSync(`${dir}/mine`).uid, 1234);
    const again = await c.call("CREATE", ROOT, {
      flags: O_RDWR | O_CREAT | O_EXCL,
      mode: S_IFREG | 0o640,
      umask: 0,
      open_flags: 0,
      name: "mine",
    });
    assert.equal(again.error, E.EEXIST);
    const d = await c.call("MKDIR", ROOT, { mode: 0o700, umask: 0, name: "private" }, {
      uid: 1234,
      gid: 4321,
    });
    assert.equal(d.body!.attr.uid, 1234);
    // another user cannot create inside 1234's private directory
    const denied = await c.call("MKDIR", d.body!.nodeid, { mode: 0o700, umask: 0, name: "x" }, {
      uid: 5555,
      gid: 5555,
    });
    assert.equal(denied.error, E.EACCES);
    const sym = await c.call("SYMLINK", ROOT, { name: "s", linkname: "t" }, { uid: 77, gid: 78 });
    assert.equal(sym.body!.attr.uid, 77);
    const tmp = await c.call("TMPFILE", ROOT, {
      flags: O_RDWR,
      mode: S_IFREG | 0o600,
      umask: 0,
      open_flags: 0,
      name: "",
    }, { uid: 1234, gid: 4321 });
    assert.equal(tmp.error, 0);
    assert.equal(tmp.body!.entry.attr.nlink, 0);
    assert.equal(tmp.body!.entry.attr.uid, 1234);
    const tmpBad = await c.call("TMPFILE", tmp.body!.entry.nodeid, {
      flags: O_RDWR,
      mode: S_IFREG | 0o600,
      umask: 0,
      open_flags: 0,
      name: "",
    });
    assert.equal(tmpBad.error, E.ENOTDIR);
  }),
);

Deno.test(
  "STATFS, SYNCFS and ACCESS as the caller",
  withServer({}, async (c, dir) => {
    const s = await c.call("STATFS", ROOT, {});
    assert.equal(s.error, 0);
    assert.ok(s.body!.st.bsize > 0 && s.body!.st.namelen >= 255);
    assert.equal((await c.call("STATFS", 987654321n, {})).error, E.ESTALE);
    assert.equal((await c.call("SYNCFS", ROOT, { padding: 0n })).error, 0);
    Deno.writeTextFileSync(`${dir}/secret`, "x");
    Deno.chmodSync(`${dir}/secret`, 0o600);
    const id = await c.lookup(ROOT, "secret");
    assert.equal((await c.call("ACCESS", id, { mask: 4, padding: 0 })).error, 0, "root may read");
    assert.equal(
      (await c.call("ACCESS", id, { mask: 4, padding: 0 }, { uid: 1000, gid: 1000 })).error,
      E.EACCES,
    );
    assert.equal(
      (await c.call("ACCESS", id, { mask: 0, padding: 0 }, { uid: 1000, gid: 1000 })).error,
      0,
    );
  }),
);

Deno.test(
  "SETXATTR, GETXATTR, LISTXATTR (empty list is 0 bytes), REMOVEXATTR",
  withServer({}, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/f`, "");
    const id = await c.lookup(ROOT, "f");
    const empty = await c.call("LISTXATTR", id, { size: 100, padding: 0 });
    assert.equal(empty.error, 0);
    assert.equal(empty.body!.value!.length, 0);
    assert.equal(empty.raw!.length, 16, "an empty list is a header-only reply");
    const sz0 = await c.call("LISTXATTR", id, { size: 0, padding: 0 });
    assert.equal(sz0.body!.size, 0);
    const set = await c.call("SETXATTR", id, {
      size: 3,
      flags: 0,
      setxattr_flags: 0,
      padding: 0,
      name: "user.k",
      value: enc.encode("val"),
    });
    assert.equal(set.error, 0);
    const create = await c.call("SETXATTR", id, {
      size: 1,
      flags: 1,
      setxattr_flags: 0,
      padding: 0,
      name: "user.k",
      value: enc.encode("z"),
    });
    assert.equal(create.error, E.EEXIST);
    const size = await c.call("GETXATTR", id, { size: 0, padding: 0, name: "user.k" });
    assert.equal(size.body!.size, 3);
    const val = await c.call("GETXATTR", id, { size: 10, padding: 0, name: "user.k" });
    assert.equal(dec.decode(val.body!.value!), "val");
    const small = await c.call("GETXATTR", id, { size: 1, padding: 0, name: "user.k" });
    assert.equal(small.error, E.ERANGE);
    const names = await c.call("LISTXATTR", id, { size: 100, padding: 0 });
    assert.equal(dec.decode(names.body!.value!), "user.k\0");
    assert.equal((await c.call("REMOVEXATTR", id, { name: "user.k" })).error, 0);
    assert.equal((await c.call("REMOVEXATTR", id, { name: "user.k" })).error, E.ENODATA);
    assert.equal(
      (await c.call("GETXATTR", id, { size: 10, padding: 0, name: "user.k" })).error,
      E.ENODATA,
    );
  }),
);

Deno.test(
  "xattr off answers ENOSYS; read-only refuses every change with EROFS",
  withServer({ xattr: false, readonly: true }, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/f`, "data");
    const id = await c.lookup(ROOT, "f");
    assert.equal((await c.call("LISTXATTR", id, { size: 10, padding: 0 })).error, E.ENOSYS);
    assert.equal(
      (await c.call("GETXATTR", id, { size: 10, padding: 0, name: "user.a" })).error,
      E.ENOSYS,
    );
    const fh = await c.open(id, O_RDONLY);
    const rd = await c.call("READ", id, {
      fh,
      offset: 0n,
      size: 4,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.equal(dec.decode(rd.body!.data), "data");
    const refused = [
      await c.call("OPEN", id, { flags: O_RDWR, open_flags: 0 }),
      await c.call("MKDIR", ROOT, { mode: 0o755, umask: 0, name: "d" }),
      await c.call("CREATE", ROOT, {
        flags: O_RDWR | O_CREAT,
        mode: S_IFREG | 0o644,
        umask: 0,
        open_flags: 0,
        name: "n",
      }),
      await c.call("UNLINK", ROOT, { name: "f" }),
      await c.call("SYMLINK", ROOT, { name: "s", linkname: "f" }),
      await c.call("RENAME", ROOT, { newdir: ROOT, oldname: "f", newname: "g" }),
      await c.call("LINK", ROOT, { oldnodeid: id, newname: "h" }),
      await c.call("SETATTR", id, setattrIn({ valid: FATTR.FATTR_MODE, mode: 0o777 })),
      await c.call("WRITE", id, {
        fh,
        offset: 0n,
        size: 1,
        write_flags: 0,
        lock_owner: 0n,
        flags: 0,
        padding: 0,
        data: enc.encode("x"),
      }),
      await c.call("FALLOCATE", id, { fh, offset: 0n, length: 10n, mode: 0, padding: 0 }),
      await c.call("TMPFILE", ROOT, {
        flags: O_RDWR,
        mode: S_IFREG | 0o600,
        umask: 0,
        open_flags: 0,
        name: "",
      }),
    ];
    assert.deepEqual(refused.map((r) => r.error), refused.map(() => E.EROFS));
    assert.equal(Deno.readTextFileSync(`${dir}/f`), "data");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["f"]);
  }),
);

async function listAll(c: TestClient, dirId: bigint, plus: boolean, size = 4096) {
  const o = await c.call("OPENDIR", dirId, { flags: O_RDONLY, open_flags: 0 });
  assert.equal(o.error, 0);
  const fh = o.body!.fh;
  const names: string[] = [];
  const nodeids: bigint[] = [];
  let offset = 0n;
  for (;;) {
    const r = await c.call(plus ? "READDIRPLUS" : "READDIR", dirId, {
      fh,
      offset,
      size,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.equal(r.error, 0);
    const body = r.body as {
      entries: ({ name: FuseName; off: bigint } | {
        dirent: { name: FuseName; off: bigint };
        entry_out: { nodeid: bigint };
      })[];
    };
    if (body.entries.length === 0) break;
    for (const e of body.entries) {
      const d = "dirent" in e ? e.dirent : e;
      names.push(d.name.text);
      if ("entry_out" in e) nodeids.push(e.entry_out.nodeid);
      offset = d.off;
    }
  }
  return { fh, names, nodeids };
}

Deno.test(
  "OPENDIR, READDIR with resumption, READDIRPLUS lookup counting, FSYNCDIR, RELEASEDIR",
  withServer({}, async (c, dir) => {
    for (let i = 0; i < 300; i++) {
      Deno.writeTextFileSync(`${dir}/file-with-a-longish-name-${i}`, "");
    }
    const plain = await listAll(c, ROOT, false, 1024);
    assert.equal(plain.names.length, 302);
    assert.equal(new Set(plain.names).size, 302, "no duplicates across resumed reads");
    assert.ok(plain.names.includes(".") && plain.names.includes(".."));
    assert.equal(c.server.handler.inodes.size, 1, "READDIR counts no lookups");
    // resume from an arbitrary returned cookie after a rewind
    const first = await c.call("READDIR", ROOT, {
      fh: plain.fh,
      offset: 0n,
      size: 1024,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    const cookie = first.body!.entries[3].off;
    const resumed = await c.call("READDIR", ROOT, {
      fh: plain.fh,
      offset: cookie,
      size: 1024,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.equal(resumed.body!.entries[0].name.text, first.body!.entries[4].name.text);
    assert.equal(
      (await c.call("FSYNCDIR", ROOT, { fh: plain.fh, fsync_flags: 0, padding: 0 })).error,
      0,
    );
    assert.equal(
      (await c.call("RELEASEDIR", ROOT, {
        fh: plain.fh,
        flags: 0,
        release_flags: 0,
        lock_owner: 0n,
      })).error,
      0,
    );
    const plus = await listAll(c, ROOT, true, 2048);
    assert.equal(plus.names.length, 302);
    const dotIdx = plus.names.indexOf(".");
    const dotdotIdx = plus.names.indexOf("..");
    assert.equal(plus.nodeids[dotIdx], 0n, ". carries node id 0");
    assert.equal(plus.nodeids[dotdotIdx], 0n, ".. carries node id 0");
    assert.equal(plus.nodeids.filter((n) => n !== 0n).length, 300);
    assert.equal(c.server.handler.inodes.size, 301, "one counted lookup per named entry");
    for (const id of plus.nodeids.filter((n) => n !== 0n)) {
      assert.equal(c.server.handler.inodes.get(id).nlookup, 1);
      await c.call("FORGET", id, { nlookup: 1n });
    }
    assert.equal(c.server.handler.inodes.size, 1);
    await c.call("RELEASEDIR", ROOT, { fh: plus.fh, flags: 0, release_flags: 0, lock_owner: 0n });
    // errors
    Deno.writeTextFileSync(`${dir}/zz`, "");
    const f = await c.lookup(ROOT, "zz");
    assert.equal((await c.call("OPENDIR", f, { flags: O_RDONLY, open_flags: 0 })).error, E.ENOTDIR);
    const r = await c.call("READDIR", ROOT, {
      fh: 31337n,
      offset: 0n,
      size: 1024,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.equal(r.error, E.EBADF);
    assert.equal(
      (await c.call("RELEASEDIR", ROOT, {
        fh: plus.fh,
        flags: 0,
        release_flags: 0,
        lock_owner: 0n,
      })).error,
      E.EBADF,
    );
    assert.equal(
      (await c.call("FSYNCDIR", ROOT, { fh: plus.fh, fsync_flags: 0, padding: 0 })).error,
      E.EBADF,
    );
  }),
);

Deno.test(
  "GETLK, SETLK, SETLKW between owners; INTERRUPT of a waiting SETLKW answers EINTR; FLUSH releases",
  withServer({}, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/l`, "0123456789");
    const id = await c.lookup(ROOT, "l");
    const fa = await c.open(id, O_RDWR);
    const fb = await c.open(id, O_RDWR);
    const lk = (
      fh: bigint,
      owner: bigint,
      type: number,
      start: bigint,
      end: bigint,
      pid = 100,
    ) => ({
      fh,
      owner,
      lk: { start, end, type, pid },
      lk_flags: 0,
      padding: 0,
    });
    const MAX = 0x7fffffffffffffffn;
    assert.equal((await c.call("SETLK", id, lk(fa, 1n, 1, 0n, 9n, 111))).error, 0);
    const q = await c.call("GETLK", id, lk(fb, 2n, 0, 5n, 5n, 222));
    assert.equal(q.body!.lk.type, 1);
    assert.equal(q.body!.lk.start, 0n);
    assert.equal(q.body!.lk.end, 9n);
    assert.equal(q.body!.lk.pid, 111, "the holder's pid");
    const free = await c.call("GETLK", id, lk(fb, 2n, 1, 10n, MAX));
    assert.equal(free.body!.lk.type, 2, "F_UNLCK past the lock");
    assert.equal((await c.call("SETLK", id, lk(fb, 2n, 0, 0n, 0n))).error, E.EAGAIN);
    // the same owner may take it again (upgrade/downgrade)
    assert.equal((await c.call("SETLK", id, lk(fa, 1n, 0, 0n, 9n))).error, 0);
    // SETLKW waits, and is answered when the holder unlocks
    const w = c.send("SETLKW", id, lk(fb, 2n, 1, 0n, MAX));
    await new Promise((ok) => setTimeout(ok, 10));
    assert.equal(c.server.waiting, 1);
    // other requests are served meanwhile
    assert.equal((await c.call("GETATTR", id, { getattr_flags: 0, dummy: 0, fh: 0n })).error, 0);
    assert.equal((await c.call("SETLK", id, lk(fa, 1n, 2, 0n, MAX))).error, 0);
    assert.equal((await w.answer).error, 0);
    // a waiting SETLKW interrupted answers EINTR
    const w2 = c.send("SETLKW", id, lk(fa, 1n, 1, 0n, 0n));
    await new Promise((ok) => setTimeout(ok, 5));
    assert.equal(await c.call("INTERRUPT", 0n, { unique: w2.unique }).then((r) => r.raw), null);
    assert.equal((await w2.answer).error, E.EINTR);
    assert.equal(c.server.waiting, 0);
    // FLUSH by owner 2 drops its locks
    assert.equal(
      (await c.call("FLUSH", id, { fh: fb, unused: 0, padding: 0, lock_owner: 2n })).error,
      0,
    );
    assert.equal((await c.call("SETLK", id, lk(fa, 1n, 1, 0n, MAX))).error, 0);
    // BSD flock on handles
    const fl = (fh: bigint, type: number) => ({
      fh,
      owner: 9n,
      lk: { start: 0n, end: MAX, type, pid: 1 },
      lk_flags: 1,
      padding: 0,
    });
    assert.equal((await c.call("SETLK", id, fl(fa, 1))).error, 0);
    assert.equal((await c.call("SETLK", id, fl(fb, 1))).error, E.EAGAIN);
    // errors
    assert.equal((await c.call("SETLK", id, lk(999n, 3n, 1, 0n, 0n))).error, E.EBADF);
    assert.equal((await c.call("GETLK", id, lk(fa, 3n, 1, 5n, 2n))).error, E.EINVAL);
  }),
);

Deno.test(
  "opcodes without meaning get a deliberate ENOSYS; unknown opcodes too; FORGET has no reply",
  withServer({}, async (c) => {
    const ioctl = await c.call("IOCTL", ROOT, {
      fh: 0n,
      flags: 0,
      cmd: 1,
      arg: 0n,
      in_size: 0,
      out_size: 0,
      data: new Uint8Array(0),
    });
    assert.equal(ioctl.error, E.ENOSYS);
    assert.equal(
      (await c.call("POLL", ROOT, { fh: 0n, kh: 0n, flags: 0, events: 0 })).error,
      E.ENOSYS,
    );
    assert.equal(
      (await c.call("BMAP", ROOT, { block: 0n, blocksize: 512, padding: 0 })).error,
      E.ENOSYS,
    );
    assert.equal(
      (await c.call("SETUPMAPPING", ROOT, { fh: 0n, foffset: 0n, len: 0n, flags: 0n, moffset: 0n }))
        .error,
      E.ENOSYS,
    );
    assert.equal((await c.call("REMOVEMAPPING", ROOT, { count: 0, mappings: [] })).error, E.ENOSYS);
    assert.equal(
      (await c.call("CUSE_INIT", ROOT, { major: 7, minor: 45, unused: 0, flags: 0 })).error,
      E.ENOSYS,
    );
    const unknown = encodeRequest({
      op: "UNKNOWN",
      header: { unique: 5000n, nodeid: ROOT, opcode: 63 },
      body: { raw: new Uint8Array(8) },
    });
    const r = c.raw(unknown) as Uint8Array;
    assert.equal(new DataView(r.buffer).getInt32(4, true), -E.ENOSYS);
    // a truncated message is dropped, a malformed body fails that request only
    assert.equal(c.raw(new Uint8Array(10)), null);
    const bad = encodeRequest({
      op: "LOOKUP",
      header: { unique: 5001n, nodeid: ROOT },
      body: { name: "x" },
    });
    const cut = bad.slice(0, bad.length - 2);
    new DataView(cut.buffer).setUint32(0, cut.length, true);
    const br = c.raw(cut) as Uint8Array;
    assert.equal(new DataView(br.buffer).getInt32(4, true), -E.EINVAL);
    assert.equal((await c.call("GETATTR", ROOT, { getattr_flags: 0, dummy: 0, fh: 0n })).error, 0);
  }),
);

Deno.test(
  "cache modes set timeouts and open flags; writeback turns O_WRONLY into O_RDWR",
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ringside-engine-" });
    try {
      Deno.writeTextFileSync(`${dir}/f`, "x");
      for (
        const [cache, valid, openFlags] of [["never", 0n, 1], ["auto", 1n, 0], [
          "always",
          86400n,
          2,
        ]] as const
      ) {
        const server = createPassthrough(dir, { cache, writeback: true, log: () => {} });
        const c = new TestClient(server);
        const out = await c.init();
        const wb = initFlagsWord(out.flags, out.flags2) & InitFlag.WRITEBACK_CACHE;
        assert.notEqual(wb, 0n);
        const r = await c.call("LOOKUP", ROOT, { name: "f" });
        assert.equal(r.body!.entry_valid, valid);
        assert.equal(r.body!.attr_valid, valid);
        const o = await c.call("OPEN", r.body!.nodeid, { flags: O_WRONLY, open_flags: 0 });
        assert.equal(o.body!.open_flags, openFlags, `${cache}: FOPEN flags`);
        const rd = await c.call("READ", r.body!.nodeid, {
          fh: o.body!.fh,
          offset: 0n,
          size: 1,
          read_flags: 0,
          lock_owner: 0n,
          flags: 0,
          padding: 0,
        });
        assert.equal(dec.decode(rd.body!.data), "x", "writeback: a write-only open can be read");
        server.close();
      }
      const t = createPassthrough(dir, { entryTimeout: 2.5, attrTimeout: 0.25 });
      const c = new TestClient(t);
      await c.init();
      const r = await c.call("LOOKUP", ROOT, { name: "f" });
      assert.equal(r.body!.entry_valid, 2n);
      assert.equal(r.body!.entry_valid_nsec, 500_000_000);
      assert.equal(r.body!.attr_valid, 0n);
      assert.equal(r.body!.attr_valid_nsec, 250_000_000);
      t.close();
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test(
  "an observer sees every request and its reply, paired",
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ringside-engine-" });
    const seen: [number, number | null][] = [];
    const server = createPassthrough(dir, {
      observer: (req, rep) => seen.push([req[4], rep === null ? null : rep.length]),
    });
    try {
      const c = new TestClient(server);
      await c.init();
      await c.call("LOOKUP", ROOT, { name: "nope" });
      await c.call("FORGET", ROOT, { nlookup: 0n });
      assert.deepEqual(seen, [[Opcode.INIT, 80], [Opcode.LOOKUP, 16], [Opcode.FORGET, null]]);
    } finally {
      server.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test("createPassthrough fails on a missing directory", () => {
  assert.throws(() => createPassthrough("/nonexistent/ringside-dir"), /ENOENT/);
});
