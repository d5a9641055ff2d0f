import assert from "node:assert/strict";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_NOFOLLOW,
  close,
  copyFileRange,
  F_OFD_GETLK,
  F_OFD_SETLK,
  F_RDLCK,
  F_UNLCK,
  F_WRLCK,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  fallocate,
  fchmodat,
  fchownat,
  fcntlLock,
  fstat,
  fstatvfs,
  ftruncate,
  getdents64,
  getxattr,
  IoVecList,
  linkat,
  listxattr,
  lseek,
  makedev,
  mkdirat,
  mknodat,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  O_RDONLY,
  O_RDWR,
  O_TMPFILE,
  openat,
  openat2,
  pread,
  preadv,
  procFdPath,
  pwrite,
  pwritev,
  readDirents,
  readlinkat,
  removexattr,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  renameat2,
  RESOLVE_BENEATH,
  RESOLVE_NO_MAGICLINKS,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  SEEK_DATA,
  SEEK_HOLE,
  setxattr,
  splitdev,
  statx,
  symlinkat,
  unlinkat,
  utimensat,
} from "./fs.ts";
import { ThreadCredentials } from "./creds.ts";
import { SysError } from "./libc.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function withDir(fn: (dirfd: number, path: string) => void): () => void {
  return () => {
    const path = Deno.makeTempDirSync({ prefix: "ringside-fs-" });
    const fd = openat(AT_FDCWD, path, { flags: O_PATH | O_DIRECTORY });
    try {
      fn(fd, path);
    } finally {
      close(fd);
      Deno.removeSync(path, { recursive: true });
    }
  };
}

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SysError) return e.code;
    throw e;
  }
  return "ok";
}

Deno.test(
  "openat/pread/pwrite/ftruncate/statx round trip and errors",
  withDir((dir) => {
    const fd = openat(dir, "f", { flags: O_CREAT | O_EXCL | O_RDWR, mode: 0o640 });
    assert.equal(pwrite(fd, enc.encode("hello world"), 0), 11);
    const buf = new Uint8Array(5);
    assert.equal(pread(fd, buf, 6), 5);
    assert.equal(dec.decode(buf), "world");
    ftruncate(fd, 5);
    const st = fstat(fd);
    assert.equal(st.size, 5n);
    assert.equal(st.mode & S_IFMT, S_IFREG);
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.nlink, 1);
    close(fd);
    assert.equal(errnoOf(() => openat(dir, "f", { flags: O_CREAT | O_EXCL | O_RDWR })), "EEXIST");
    assert.equal(errnoOf(() => openat(dir, "missing", { flags: O_RDONLY })), "ENOENT");
    assert.equal(errnoOf(() => openat(dir, "a\0b", { flags: O_RDONLY })), "EINVAL");
    // raw byte names that are not UTF-8
    const raw = new Uint8Array([0xff, 0xfe, 0x41]);
    close(openat(dir, raw, { flags: O_CREAT | O_RDWR, mode: 0o600 }));
    assert.equal(statx(dir, raw).size, 0n);
  }),
);

Deno.test(
  "openat2 RESOLVE_BENEATH refuses .., absolute symlinks and magic links",
  withDir((dir) => {
    mkdirat(dir, "sub", { mode: 0o755 });
    symlinkat("/etc/passwd", [dir, "abs"]);
    symlinkat("../../../../etc/passwd", [dir, "rel"]);
    const beneath = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    assert.equal(errnoOf(() => openat2(dir, "..", { flags: O_PATH, resolve: beneath })), "EXDEV");
    assert.equal(
      errnoOf(() => openat2(dir, "abs", { flags: O_RDONLY, resolve: beneath })),
      "EXDEV",
    );
    assert.equal(
      errnoOf(() => openat2(dir, "rel", { flags: O_RDONLY, resolve: beneath })),
      "EXDEV",
    );
    const ok = openat2(dir, "sub/..", { flags: O_PATH, resolve: beneath });
    assert.equal(fstat(ok).ino, fstat(dir).ino);
    close(ok);
  }),
);

Deno.test(
  "directory, node, link, rename and unlink calls",
  withDir((dir) => {
    mkdirat(dir, "d", { mode: 0o700 });
    assert.equal(statx(dir, "d").mode, S_IFDIR | 0o700);
    assert.equal(errnoOf(() => mkdirat(dir, "d")), "EEXIST");
    mknodat(dir, "fifo", { mode: S_IFIFO | 0o600 });
    assert.equal(statx(dir, "fifo").mode & S_IFMT, S_IFIFO);
    mknodat(dir, "null", { mode: S_IFCHR | 0o600, dev: makedev(1, 3) });
    assert.deepEqual(splitdev(statx(dir, "null").rdev), [1, 3]);
    close(openat(dir, "a", { flags: O_CREAT | O_RDWR, mode: 0o600 }));
    close(openat(dir, "b", { flags: O_CREAT | O_RDWR, mode: 0o644 }));
    linkat([dir, "a"], [dir, "a2"]);
    assert.equal(statx(dir, "a").nlink, 2);
    assert.equal(
      errnoOf(() => renameat2([dir, "a"], [dir, "b"], { flags: RENAME_NOREPLACE })),
      "EEXIST",
    );
    renameat2([dir, "a"], [dir, "b"], { flags: RENAME_EXCHANGE });
    assert.equal(statx(dir, "b").mode & 0o777, 0o600);
    assert.equal(statx(dir, "a").mode & 0o777, 0o644);
    symlinkat("target/x", [dir, "ln"]);
    assert.equal(dec.decode(readlinkat(dir, "ln")), "target/x");
    assert.equal(statx(dir, "ln", { flags: AT_SYMLINK_NOFOLLOW }).mode & S_IFMT, S_IFLNK);
    const lfd = openat(dir, "ln", { flags: O_PATH | O_NOFOLLOW });
    assert.equal(dec.decode(readlinkat(lfd, "")), "target/x");
    close(lfd);
    unlinkat(dir, "d", { flags: AT_REMOVEDIR });
    assert.equal(errnoOf(() => unlinkat(dir, "d", { flags: AT_REMOVEDIR })), "ENOENT");
    unlinkat(dir, "a2");
    assert.equal(statx(dir, "b").nlink, 1);
  }),
);

Deno.test(
  "attributes through O_PATH descriptors: chmod, chown, utimensat, xattrs via /proc",
  withDir((dir) => {
    close(openat(dir, "f", { flags: O_CREAT | O_RDWR, mode: 0o600 }));
    const p = openat(dir, "f", { flags: O_PATH | O_NOFOLLOW });
    fchmodat(p, "", { mode: 0o751, flags: AT_EMPTY_PATH });
    assert.equal(fstat(p).mode & 0o7777, 0o751);
    fchownat(p, "", { uid: 65534, gid: 65534, flags: AT_EMPTY_PATH });
    assert.equal(fstat(p).uid, 65534);
    utimensat(p, "", { atime: { sec: 1000, nsec: 5 }, mtime: "omit", flags: AT_EMPTY_PATH });
    assert.equal(fstat(p).atimeSec, 1000);
    assert.equal(fstat(p).atimeNsec, 5);
    setxattr(procFdPath(p), "user.k", { value: enc.encode("v1") });
    const buf = new Uint8Array(16);
    assert.equal(getxattr(procFdPath(p), "user.k", buf), 2);
    assert.equal(dec.decode(buf.subarray(0, 2)), "v1");
    assert.equal(getxattr(procFdPath(p), "user.k", new Uint8Array(0)), 2);
    const n = listxattr(procFdPath(p), buf);
    assert.equal(dec.decode(buf.subarray(0, n)), "user.k\0");
    removexattr(procFdPath(p), "user.k");
    assert.equal(errnoOf(() => getxattr(procFdPath(p), "user.k", buf)), "ENODATA");
    close(p);
  }),
);

Deno.test(
  "sparse files: fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range",
  withDir((dir) => {
    const fd = openat(dir, "s", { flags: O_CREAT | O_RDWR, mode: 0o600 });
    pwrite(fd, new Uint8Array(4096).fill(1), 1 << 20);
    assert.equal(lseek(fd, 0, SEEK_DATA), 1n << 20n);
    assert.equal(lseek(fd, 0, SEEK_HOLE), 0n);
    fallocate(fd, {
      mode: FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
      offset: 1 << 20,
      length: 4096,
    });
    assert.equal(errnoOf(() => lseek(fd, 0, SEEK_DATA)), "ENXIO");
    pwrite(fd, enc.encode("abc"), 0);
    const out = openat(dir, "t", { flags: O_CREAT | O_RDWR, mode: 0o600 });
    assert.equal(copyFileRange([fd, 0], [out, 10], { length: 3 }), 3);
    const b = new Uint8Array(3);
    pread(out, b, 10);
    assert.equal(dec.decode(b), "abc");
    close(out);
    close(fd);
    assert.ok(fstatvfs(dir).bsize > 0n);
  }),
);

Deno.test(
  "open file description locks conflict between descriptors",
  withDir((dir) => {
    const a = openat(dir, "l", { flags: O_CREAT | O_RDWR, mode: 0o600 });
    const b = openat(dir, "l", { flags: O_RDWR });
    fcntlLock(a, F_OFD_SETLK, { type: F_WRLCK, start: 0n, len: 10n, pid: 0 });
    const got = fcntlLock(b, F_OFD_GETLK, { type: F_RDLCK, start: 5n, len: 1n, pid: 0 });
    assert.equal(got.type, F_WRLCK);
    assert.equal(got.start, 0n);
    assert.equal(got.len, 10n);
    assert.equal(
      errnoOf(() => fcntlLock(b, F_OFD_SETLK, { type: F_RDLCK, start: 0n, len: 1n, pid: 0 })),
      "EAGAIN",
    );
    fcntlLock(a, F_OFD_SETLK, { type: F_UNLCK, start: 0n, len: 0n, pid: 0 });
    fcntlLock(b, F_OFD_SETLK, { type: F_RDLCK, start: 0n, len: 1n, pid: 0 });
    close(a);
    close(b);
  }),
);

Deno.test(
  "getdents64 lists names with cookies that resume with lseek",
  withDir((dir) => {
    for (let i = 0; i < 50; i++) mkdirat(dir, `e${i}`);
    const fd = openat(dir, ".", { flags: O_RDONLY | O_DIRECTORY });
    const buf = new Uint8Array(32768);
    const all = readDirents(buf, getdents64(fd, buf));
    assert.equal(getdents64(fd, buf), 0);
    const names = all.map((e) => dec.decode(e.name)).sort();
    assert.equal(names.length, 52);
    assert.ok(names.includes(".") && names.includes("..") && names.includes("e49"));
    lseek(fd, all[9].off, 0);
    const rest = readDirents(buf, getdents64(fd, buf));
    assert.deepEqual(
      rest.map((e) => dec.decode(e.name)),
      all.slice(10).map((e) => dec.decode(e.name)),
    );
    close(fd);
  }),
);

Deno.test(
  "ThreadCredentials creates files as the caller and restores root",
  withDir((dir, path) => {
    const creds = new ThreadCredentials();
    if (!creds.canSwitch) throw new Error("this test runs as root");
    Deno.chmodSync(path, 0o777);
    creds.run({ uid: 1234, gid: 4321, groups: [77] }, () => mkdirat(dir, "mine"));
    const st = statx(dir, "mine");
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 4321);
    // as the caller, permission checks apply: 1234 cannot create in a 0700 root dir
    mkdirat(dir, "closed", { mode: 0o700 });
    assert.equal(
      errnoOf(() => creds.run({ uid: 1234, gid: 4321 }, () => mkdirat(dir, "closed/x"))),
      "EACCES",
    );
    // and root's rights are back afterwards
    mkdirat(dir, "closed/x");
    assert.equal(statx(dir, "closed/x").uid, 0);
  }),
);

Deno.test("IoVecList.addAdjacent merges runs up to maxRun; the kernel writes and reads them byte-exactly", () => {
  const mem = new Uint8Array(64 * 1024);
  for (let i = 0; i < mem.length; i++) mem[i] = (i * 31 + 7) & 255;
  const base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(mem)));
  const iov = new IoVecList();
  // pages 0-3 adjacent, a gap, pages 5-7 adjacent but capped at 8 KiB runs
  for (const page of [0, 1, 2, 3]) assert.ok(iov.addAdjacent(base + page * 4096, 4096, 1 << 20));
  for (const page of [5, 6, 7]) assert.ok(iov.addAdjacent(base + page * 4096, 4096, 8192));
  assert.equal(iov.count, 3);
  assert.deepEqual([iov.lengthAt(0), iov.lengthAt(1), iov.lengthAt(2)], [16384, 8192, 4096]);
  assert.equal(iov.length, 7 * 4096);
  const fd = openat(AT_FDCWD, "/tmp", { flags: O_TMPFILE | O_RDWR, mode: 0o600 });
  try {
    assert.equal(pwritev(fd, iov.bytes, iov.count, 0), 7 * 4096);
    const expected = new Uint8Array([
      ...mem.subarray(0, 4 * 4096),
      ...mem.subarray(5 * 4096, 8 * 4096),
    ]);
    const back = new Uint8Array(7 * 4096);
    const one = new IoVecList();
    one.add(Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(back))), back.length);
    assert.equal(preadv(fd, one.bytes, one.count, 0), back.length);
    assert.deepEqual(back, expected);
    // and back into the merged list's memory, cleared first
    mem.fill(0);
    assert.equal(iov.readAt(fd, 0), 7 * 4096);
    assert.deepEqual(
      new Uint8Array([...mem.subarray(0, 4 * 4096), ...mem.subarray(5 * 4096, 8 * 4096)]),
      expected,
    );
    assert.ok(mem.subarray(4 * 4096, 5 * 4096).every((b) => b === 0));
  } finally {
    close(fd);
  }
});
