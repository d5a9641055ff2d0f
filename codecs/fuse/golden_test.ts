/**
 * Golden byte vectors: each layout is written out by hand from the structs of
 * `include/uapi/linux/fuse.h` (field by field, little-endian), not produced by
 * our encoder; the tests check that the decoder reads them and the encoder
 * reproduces them byte for byte.
 */
import assert from "node:assert/strict";
import { plain } from "./_samples.ts";
import {
  decodeNotification,
  decodeReply,
  decodeRequest,
  encodeNotification,
  encodeReply,
  encodeRequest,
} from "./codec.ts";

/** Little-endian byte builder, independent of the codec. */
class B {
  bytes: number[] = [];
  u8(...xs: number[]): this {
    this.bytes.push(...xs);
    return this;
  }
  u16(x: number): this {
    return this.u8(x & 0xff, (x >> 8) & 0xff);
  }
  u32(x: number): this {
    return this.u8(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff);
  }
  u64(x: bigint): this {
    for (let i = 0n; i < 8n; i++) this.u8(Number((BigInt.asUintN(64, x) >> (8n * i)) & 0xffn));
    return this;
  }
  str(s: string): this {
    return this.u8(...new TextEncoder().encode(s));
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.u8(0);
    return this;
  }
  done(): Uint8Array {
    return new Uint8Array(this.bytes);
  }
}

function hex(s: string): Uint8Array {
  const clean = s.replace(/[^0-9a-f]/gi, "");
  return new Uint8Array(clean.match(/../g)!.map((x) => parseInt(x, 16)));
}

/** fuse_in_header: len, opcode, unique, nodeid, uid, gid, pid, total_extlen (u16), padding (u16). */
function inHeader(len: number, opcode: number, unique: bigint, nodeid: bigint, extlen = 0): B {
  return new B().u32(len).u32(opcode).u64(unique).u64(nodeid).u32(1000).u32(1000).u32(4242)
    .u16(extlen).u16(0);
}

/** fuse_out_header: len, error (s32), unique. */
function outHeader(len: number, error: number, unique: bigint): B {
  return new B().u32(len).u32(error >>> 0).u64(unique);
}

/** fuse_attr: 6 u64, 3 nsec, mode, nlink, uid, gid, rdev (, blksize, flags from 7.9). */
function attr(b: B, ino: bigint, compat: boolean): B {
  b.u64(ino).u64(5n).u64(8n).u64(100n).u64(200n).u64(300n).u32(1).u32(2).u32(3)
    .u32(0o100644).u32(1).u32(0).u32(0).u32(0);
  return compat ? b : b.u32(4096).u32(0);
}

const attrObject = (ino: bigint, compat: boolean) => ({
  ino,
  size: 5n,
  blocks: 8n,
  atime: 100n,
  mtime: 200n,
  ctime: 300n,
  atimensec: 1,
  mtimensec: 2,
  ctimensec: 3,
  mode: 0o100644,
  nlink: 1,
  uid: 0,
  gid: 0,
  rdev: 0,
  blksize: compat ? 0 : 4096,
  flags: 0,
});

Deno.test("golden: LOOKUP request, written out in hex", () => {
  // len 43, opcode 1, unique 2, nodeid 1, uid 1000, gid 1000, pid 4242, extlen 0, "ab\0"
  const bytes = hex(`
    2b000000 01000000 0200000000000000 0100000000000000
    e8030000 e8030000 92100000 0000 0000
    616200`);
  const d = decodeRequest(bytes);
  assert.deepEqual(plain(d), {
    op: "LOOKUP",
    header: {
      len: 43,
      opcode: 1,
      unique: 2n,
      nodeid: 1n,
      uid: 1000,
      gid: 1000,
      pid: 4242,
      total_extlen: 0,
    },
    body: { name: "ab" },
    extensions: undefined,
  });
  assert.deepEqual(encodeRequest(d), bytes);
});

Deno.test("golden: INIT request at 7.45 (64-byte fuse_init_in) and at 7.35 (16 bytes)", () => {
  const body45 = new B().u32(7).u32(45).u32(0x20000).u32(0x73fffffb).u32(0x7ff).zeros(44).done();
  const msg45 = new B().u8(...inHeader(104, 26, 2n, 0n).bytes, ...body45).done();
  const d = decodeRequest(msg45);
  assert.deepEqual(plain(d.body), {
    major: 7,
    minor: 45,
    max_readahead: 0x20000,
    flags: 0x73fffffb,
    flags2: 0x7ff,
  });
  assert.deepEqual(encodeRequest(d), msg45);
  const msg35 = new B().u8(...inHeader(56, 26, 2n, 0n).bytes).u32(7).u32(35).u32(0x20000)
    .u32(0x3fffffb).done();
  const d35 = decodeRequest(msg35, { minor: 35 });
  assert.deepEqual(plain(d35.body), {
    major: 7,
    minor: 35,
    max_readahead: 0x20000,
    flags: 0x3fffffb,
    flags2: 0,
  });
  assert.deepEqual(encodeRequest(d35), msg35);
});

Deno.test("golden: INIT reply at 7.22 is 24 bytes, at 7.45 64 bytes", () => {
  const r22 = new B().u8(...outHeader(40, 0, 2n).bytes).u32(7).u32(22).u32(0x20000).u32(0x1)
    .u16(16).u16(12).u32(0x20000).done();
  const d22 = decodeReply(r22, { opcode: 26 });
  assert.equal(d22.op, "INIT");
  assert.deepEqual(plain(d22.body), {
    major: 7,
    minor: 22,
    max_readahead: 0x20000,
    flags: 1,
    max_background: 16,
    congestion_threshold: 12,
    max_write: 0x20000,
    time_gran: 0,
    max_pages: 0,
    map_alignment: 0,
    flags2: 0,
    max_stack_depth: 0,
    request_timeout: 0,
  });
  assert.deepEqual(encodeReply(d22), r22);
  // 7.45: ... time_gran u32, max_pages u16, map_alignment u16, flags2 u32,
  // max_stack_depth u32, request_timeout u16, unused u16[11]
  const r45 = new B().u8(...outHeader(80, 0, 2n).bytes).u32(7).u32(45).u32(0x20000)
    .u32(0x60000001).u16(16).u16(12).u32(0x100000).u32(1).u16(256).u16(12).u32(0x3)
    .u32(2).u16(30).zeros(22).done();
  const d45 = decodeReply(r45, { opcode: "INIT" });
  assert.deepEqual(plain(d45.body), {
    major: 7,
    minor: 45,
    max_readahead: 0x20000,
    flags: 0x60000001,
    max_background: 16,
    congestion_threshold: 12,
    max_write: 0x100000,
    time_gran: 1,
    max_pages: 256,
    map_alignment: 12,
    flags2: 3,
    max_stack_depth: 2,
    request_timeout: 30,
  });
  assert.deepEqual(encodeReply(d45), r45);
});

Deno.test("golden: fuse_entry_out is 128 bytes at 7.9+, 120 below", () => {
  // nodeid, generation, entry_valid, attr_valid, entry_valid_nsec, attr_valid_nsec, attr
  const entry = (compat: boolean) =>
    attr(new B().u64(0x1_0000_0000_0001n).u64(3n).u64(1n).u64(2n).u32(10).u32(20), 9n, compat);
  const r45 = new B().u8(...outHeader(144, 0, 4n).bytes, ...entry(false).bytes).done();
  const r8 = new B().u8(...outHeader(136, 0, 4n).bytes, ...entry(true).bytes).done();
  const expected = (compat: boolean) => ({
    nodeid: 0x1_0000_0000_0001n,
    generation: 3n,
    entry_valid: 1n,
    attr_valid: 2n,
    entry_valid_nsec: 10,
    attr_valid_nsec: 20,
    attr: attrObject(9n, compat),
  });
  assert.deepEqual(plain(decodeReply(r45, { opcode: "LOOKUP" }).body), expected(false));
  assert.deepEqual(plain(decodeReply(r8, { opcode: "LOOKUP", minor: 8 }).body), expected(true));
  assert.deepEqual(
    encodeReply({ op: "LOOKUP", header: { unique: 4n }, body: expected(false) }),
    r45,
  );
  assert.deepEqual(
    encodeReply({ op: "LOOKUP", header: { unique: 4n }, body: expected(true) }, { minor: 8 }),
    r8,
  );
  // the wrong size for the minor is an error, not a misread
  assert.throws(() => decodeReply(r8, { opcode: "LOOKUP" }), /fuse_entry_out.*expected 128/);
});

Deno.test("golden: GETATTR reply (fuse_attr_out) 104 and 96 bytes", () => {
  const r = new B().u8(...outHeader(120, 0, 6n).bytes).u64(1n).u32(5).u32(0);
  attr(r, 77n, false);
  const body = { attr_valid: 1n, attr_valid_nsec: 5, dummy: 0, attr: attrObject(77n, false) };
  assert.deepEqual(plain(decodeReply(r.done(), { opcode: "GETATTR" }).body), body);
  assert.deepEqual(encodeReply({ op: "GETATTR", header: { unique: 6n }, body }), r.done());
  const r8 = new B().u8(...outHeader(112, 0, 6n).bytes).u64(1n).u32(5).u32(0);
  attr(r8, 77n, true);
  assert.deepEqual(plain(decodeReply(r8.done(), { opcode: "GETATTR", minor: 8 }).body), {
    ...body,
    attr: attrObject(77n, true),
  });
});

Deno.test("golden: READDIR reply, dirents padded to 8 bytes, 64-bit cookies", () => {
  // fuse_dirent: ino, off, namelen, type, name, padded to a multiple of 8
  const bytes = new B().u8(...outHeader(16 + 32 + 40, 0, 8n).bytes)
    .u64(1n).u64(1n).u32(1).u32(4).str(".").zeros(7)
    .u64(0x2001n).u64(0xfedcba9876543210n).u32(9).u32(8).str("hello.txt").zeros(7)
    .done();
  const d = decodeReply(bytes, { opcode: "READDIR" });
  assert.deepEqual(plain(d.body), {
    entries: [
      { ino: 1n, off: 1n, namelen: 1, type: 4, name: "." },
      { ino: 0x2001n, off: 0xfedcba9876543210n, namelen: 9, type: 8, name: "hello.txt" },
    ],
  });
  assert.deepEqual(encodeReply(d), bytes);
});

Deno.test("golden: READDIRPLUS reply, entry_out then dirent", () => {
  const b = new B().u8(...outHeader(16 + 160, 0, 8n).bytes)
    .u64(5n).u64(0n).u64(1n).u64(1n).u32(0).u32(0);
  attr(b, 5n, false).u64(5n).u64(1n).u32(3).u32(8).str("abc").zeros(5);
  const bytes = b.done();
  const d = decodeReply(bytes, { opcode: "READDIRPLUS" });
  assert.deepEqual(plain(d.body), {
    entries: [{
      entry_out: {
        nodeid: 5n,
        generation: 0n,
        entry_valid: 1n,
        attr_valid: 1n,
        entry_valid_nsec: 0,
        attr_valid_nsec: 0,
        attr: attrObject(5n, false),
      },
      dirent: { ino: 5n, off: 1n, namelen: 3, type: 8, name: "abc" },
    }],
  });
  assert.deepEqual(encodeReply(d), bytes);
});

Deno.test("golden: WRITE request, 40-byte fuse_write_in at 7.9+, 24 bytes below", () => {
  // fh, offset, size, write_flags, lock_owner, flags, padding, data
  const w45 = new B().u8(...inHeader(40 + 40 + 3, 16, 10n, 5n).bytes)
    .u64(0x11n).u64(4096n).u32(3).u32(2).u64(0x99n).u32(0o100002).u32(0).str("xyz").done();
  const d = decodeRequest(w45);
  assert.equal(d.op, "WRITE");
  assert.deepEqual(plain(d.body), {
    fh: 0x11n,
    offset: 4096n,
    size: 3,
    write_flags: 2,
    lock_owner: 0x99n,
    flags: 0o100002,
    padding: 0,
    data: new TextEncoder().encode("xyz"),
  });
  assert.deepEqual(encodeRequest(d), w45);
  const w8 = new B().u8(...inHeader(40 + 24 + 3, 16, 10n, 5n).bytes)
    .u64(0x11n).u64(4096n).u32(3).u32(0).str("xyz").done();
  const d8 = decodeRequest(w8, { minor: 8 });
  assert.equal(d8.op === "WRITE" && d8.body.lock_owner, 0n);
  assert.deepEqual(encodeRequest(d8, { minor: 8 }), w8);
});

Deno.test("golden: MKNOD request, 16-byte fuse_mknod_in at 7.12+, 8 below", () => {
  const m12 = new B().u8(...inHeader(40 + 16 + 2, 8, 12n, 1n).bytes)
    .u32(0o20644).u32(0x0501).u32(0o22).u32(0).str("c\0").done();
  const d = decodeRequest(m12);
  assert.deepEqual(plain(d.body), {
    mode: 0o20644,
    rdev: 0x0501,
    umask: 0o22,
    padding: 0,
    name: "c",
  });
  assert.deepEqual(encodeRequest(d), m12);
  const m11 = new B().u8(...inHeader(40 + 8 + 2, 8, 12n, 1n).bytes)
    .u32(0o20644).u32(0x0501).str("c\0").done();
  const d11 = decodeRequest(m11, { minor: 11 });
  assert.deepEqual(plain(d11.body), {
    mode: 0o20644,
    rdev: 0x0501,
    umask: 0,
    padding: 0,
    name: "c",
  });
  assert.deepEqual(encodeRequest(d11, { minor: 11 }), m11);
});

Deno.test("golden: SETXATTR request, 8-byte fuse_setxattr_in unless SETXATTR_EXT", () => {
  const short = new B().u8(...inHeader(40 + 8 + 7 + 2, 21, 14n, 5n).bytes)
    .u32(2).u32(1).str("user.k\0").u8(0xca, 0xfe).done();
  const d = decodeRequest(short);
  assert.deepEqual(plain(d.body), {
    size: 2,
    flags: 1,
    setxattr_flags: 0,
    padding: 0,
    name: "user.k",
    value: new Uint8Array([0xca, 0xfe]),
  });
  assert.deepEqual(encodeRequest(d), short);
  const ext = new B().u8(...inHeader(40 + 16 + 7 + 2, 21, 14n, 5n).bytes)
    .u32(2).u32(1).u32(1).u32(0).str("user.k\0").u8(0xca, 0xfe).done();
  const de = decodeRequest(ext, { setxattrExt: true });
  assert.equal(de.op === "SETXATTR" && de.body.setxattr_flags, 1);
  assert.deepEqual(encodeRequest(de, { setxattrExt: true }), ext);
  // read with the wrong assumption, the value size no longer matches: an error, not garbage
  assert.throws(() => decodeRequest(ext), /CodecError|fuse_setxattr_in/);
});

Deno.test("golden: BATCH_FORGET request, count then fuse_forget_one entries", () => {
  const bytes = new B().u8(...inHeader(40 + 8 + 32, 42, 16n, 0n).bytes)
    .u32(2).u32(0).u64(5n).u64(1n).u64(0xffff_ffff_ffff_fff0n).u64(7n).done();
  const d = decodeRequest(bytes);
  assert.deepEqual(plain(d.body), {
    count: 2,
    dummy: 0,
    forgets: [{ nodeid: 5n, nlookup: 1n }, { nodeid: 0xffff_ffff_ffff_fff0n, nlookup: 7n }],
  });
  assert.deepEqual(encodeRequest(d), bytes);
});

Deno.test("golden: STATFS reply, 80 bytes at 7.4+, 48 below", () => {
  const st = new B().u64(100n).u64(50n).u64(40n).u64(10n).u64(5n).u32(4096).u32(255);
  const r45 = new B().u8(...outHeader(96, 0, 18n).bytes, ...st.bytes).u32(4096).u32(0).zeros(24)
    .done();
  const r3 = new B().u8(...outHeader(64, 0, 18n).bytes, ...st.bytes).done();
  const body = (frsize: number) => ({
    st: {
      blocks: 100n,
      bfree: 50n,
      bavail: 40n,
      files: 10n,
      ffree: 5n,
      bsize: 4096,
      namelen: 255,
      frsize,
      padding: 0,
    },
  });
  assert.deepEqual(plain(decodeReply(r45, { opcode: "STATFS" }).body), body(4096));
  assert.deepEqual(plain(decodeReply(r3, { opcode: "STATFS", minor: 3 }).body), body(0));
  assert.deepEqual(
    encodeReply({ op: "STATFS", header: { unique: 18n }, body: body(0) }, { minor: 3 }),
    r3,
  );
});

Deno.test("golden: MKDIR with supplementary-groups extension (total_extlen)", () => {
  // fuse_ext_header {size 16, type 32}, fuse_supp_groups {nr_groups 1, groups[0] 27}
  // an extension whose size is not a multiple of 8 is an error naming fuse_ext_header.size
  const bad = new B().u8(...inHeader(40 + 8 + 2 + 16, 9, 20n, 1n, 2).bytes)
    .u32(0o755).u32(0o22).str("d\0").u32(12).u32(32).u32(1).u32(27).done();
  assert.throws(() => decodeRequest(bad), /fuse_ext_header.size at byte 50/);
  const good = new B().u8(...inHeader(40 + 8 + 2 + 16, 9, 20n, 1n, 2).bytes)
    .u32(0o755).u32(0o22).str("d\0").u32(16).u32(32).u32(1).u32(27).done();
  const d = decodeRequest(good);
  assert.deepEqual(plain(d.body), { mode: 0o755, umask: 0o22, name: "d" });
  assert.deepEqual(plain(d.extensions), [{ kind: "supp_groups", type: 32, groups: [27] }]);
  assert.deepEqual(encodeRequest(d), good);
});

Deno.test("golden: notifications INVAL_ENTRY and DELETE carry name plus NUL", () => {
  // fuse_notify_inval_entry_out {parent, namelen, flags} "abc\0"; unique 0, error = code 3
  const inval = new B().u8(...outHeader(16 + 16 + 4, 3, 0n).bytes).u64(1n).u32(3).u32(0)
    .str("abc\0").done();
  const d = decodeNotification(inval);
  assert.deepEqual(plain(d), {
    op: "NOTIFY_INVAL_ENTRY",
    header: { len: 36, error: 3, unique: 0n },
    body: { parent: 1n, namelen: 3, flags: 0, name: "abc" },
  });
  assert.deepEqual(encodeNotification(d as Parameters<typeof encodeNotification>[0]), inval);
  const del = new B().u8(...outHeader(16 + 24 + 2, 6, 0n).bytes).u64(1n).u64(9n).u32(1).u32(0)
    .str("z\0").done();
  assert.deepEqual(plain(decodeNotification(del).body), {
    parent: 1n,
    child: 9n,
    namelen: 1,
    padding: 0,
    name: "z",
  });
});
