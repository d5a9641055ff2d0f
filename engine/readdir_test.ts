/**
 * READDIR and READDIRPLUS written straight from the host's getdents64
 * records: the bytes equal what the FUSE codec encodes for the same listing,
 * every entry comes once whatever the request size, any returned offset
 * resumes exactly there, READDIRPLUS counts exactly the lookups it returns,
 * and names that change between the host's listing and the reply are
 * answered as they are now. On ext4 (hash cookies) and tmpfs (index cookies).
 */
import assert from "node:assert/strict";
import * as fs from "../sys/fs.ts";
import {
  encodeReply,
  FUSE_ROOT_ID,
  type FuseDirent,
  type FuseDirentplus,
  type FuseEntryOut,
} from "../codecs/fuse/mod.ts";
import { TestClient } from "./_test_client.ts";
import { createPassthrough, type PassthroughServerOptions } from "./session.ts";

const ROOT = FUSE_ROOT_ID;
const enc = new TextEncoder();
const dec = new TextDecoder();
const READ_IN = { read_flags: 0, lock_owner: 0n, flags: 0, padding: 0 };

/** Where the shared directories live: ext4 (`/tmp` here) and tmpfs. */
const BASES: { label: string; dir: string | undefined }[] = [{ label: "tmp", dir: undefined }];
try {
  if (Deno.statSync("/dev/shm").isDirectory) BASES.push({ label: "tmpfs", dir: "/dev/shm" });
} catch { /* no tmpfs here */ }

function withDir(
  base: string | undefined,
  options: PassthroughServerOptions,
  fn: (c: TestClient, dir: string) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ringside-readdir-", dir: base });
    const server = createPassthrough(dir, { log: () => {}, ...options });
    const c = new TestClient(server);
    try {
      await c.init();
      await fn(c, dir);
    } finally {
      server.close();
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** Runs `fn` as one test per base directory. */
function testBoth(
  name: string,
  fn: (c: TestClient, dir: string) => Promise<void>,
  options: PassthroughServerOptions = {},
): void {
  for (const base of BASES) Deno.test(`${name} (${base.label})`, withDir(base.dir, options, fn));
}

/** The directory as a plain getdents64 loop on a fresh descriptor lists it. */
function hostListing(dir: string): fs.Dirent[] {
  const fd = fs.openat(fs.AT_FDCWD, dir, { flags: fs.O_RDONLY | fs.O_DIRECTORY });
  const buf = new Uint8Array(64 * 1024);
  const out: fs.Dirent[] = [];
  try {
    for (;;) {
      const n = fs.getdents64(fd, buf);
      if (n === 0) return out;
      out.push(...fs.readDirents(buf, n));
    }
  } finally {
    fs.close(fd);
  }
}

/** A name's bytes as a comparable string (names need not be UTF-8). */
function key(name: Uint8Array): string {
  return Array.from(name).join(",");
}

function isDots(name: Uint8Array): boolean {
  return (name.length === 1 && name[0] === 0x2e) ||
    (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}

/** The listing as the codec takes it: the host's cookie (s64) is the u64 offset. */
function asDirents(host: fs.Dirent[]) {
  return host.map((d) => ({
    ino: d.ino,
    off: BigInt.asUintN(64, d.off),
    type: d.type,
    name: d.name,
  }));
}

async function opendir(c: TestClient, nodeid = ROOT): Promise<bigint> {
  const o = await c.call("OPENDIR", nodeid, { flags: 0, open_flags: 0 });
  assert.equal(o.error, 0);
  return o.body!.fh;
}

async function readdir(c: TestClient, fh: bigint, offset: bigint, size: number) {
  const r = await c.call("READDIR", ROOT, { fh, offset, size, ...READ_IN });
  assert.equal(r.error, 0, `READDIR at ${offset} size ${size}`);
  return { entries: [...r.body!] as FuseDirent[], raw: r.raw! };
}

async function readdirplus(c: TestClient, fh: bigint, offset: bigint, size: number) {
  const r = await c.call("READDIRPLUS", ROOT, { fh, offset, size, ...READ_IN });
  assert.equal(r.error, 0, `READDIRPLUS at ${offset} size ${size}`);
  return { entries: [...r.body!] as FuseDirentplus[], raw: r.raw! };
}

/** Every entry from offset 0, each request at the last returned offset. */
async function listAll(c: TestClient, fh: bigint, size: number, plus: boolean) {
  const all: { dirent: FuseDirent; entry_out?: FuseEntryOut }[] = [];
  let offset = 0n;
  for (let requests = 0;; requests++) {
    assert.ok(requests < 100_000, "the listing ends");
    const got = plus
      ? (await readdirplus(c, fh, offset, size)).entries
      : (await readdir(c, fh, offset, size)).entries.map((dirent) => ({ dirent }));
    if (got.length === 0) return all;
    all.push(...got);
    offset = got[got.length - 1].dirent.off;
  }
}

/** What READDIRPLUS says of `.`, `..` and a name gone since getdents. */
function emptyEntry(d: { ino: bigint; type: number }): FuseEntryOut {
  return {
    nodeid: 0n,
    generation: 0n,
    entry_valid: 0n,
    attr_valid: 0n,
    entry_valid_nsec: 0,
    attr_valid_nsec: 0,
    attr: {
      ino: d.ino,
      size: 0n,
      blocks: 0n,
      atime: 0n,
      mtime: 0n,
      ctime: 0n,
      atimensec: 0,
      mtimensec: 0,
      ctimensec: 0,
      mode: (d.type & 0xf) << 12,
      nlink: 0,
      uid: 0,
      gid: 0,
      rdev: 0,
      blksize: 0,
      flags: 0,
    },
  };
}

/** Odd names: not UTF-8, 1 byte, 255 bytes (the longest), of every type. */
function makeOddNames(dir: string): Uint8Array[] {
  const dfd = fs.openat(fs.AT_FDCWD, dir, { flags: fs.O_PATH | fs.O_DIRECTORY });
  const longest = new Uint8Array(255).fill(0x6c);
  longest[254] = 0xff;
  const names = [
    new Uint8Array([0xff, 0xfe]),
    new Uint8Array([0x61]),
    longest,
    enc.encode("a-directory"),
    enc.encode("a-symlink"),
    enc.encode("a-fifo"),
    new Uint8Array([0x80, 0x62, 0xc3]),
  ];
  try {
    for (const n of [names[0], names[1], names[2], names[6]]) {
      fs.close(fs.openat(dfd, n, { flags: fs.O_WRONLY | fs.O_CREAT, mode: 0o644 }));
    }
    fs.mkdirat(dfd, names[3], { mode: 0o755 });
    fs.symlinkat("nowhere", [dfd, names[4]]);
    fs.mknodat(dfd, names[5], { mode: fs.S_IFIFO | 0o644, dev: 0 });
  } finally {
    fs.close(dfd);
  }
  return names;
}

testBoth(
  "READDIR: the bytes the codec encodes for the host's listing (odd names, every minor)",
  async (c, dir) => {
    const names = makeOddNames(dir);
    const host = hostListing(dir);
    assert.equal(host.length, names.length + 2);
    assert.deepEqual(
      host.map((d) => key(d.name)).filter((k) => k !== "46" && k !== "46,46").sort(),
      names.map(key).sort(),
    );
    for (const minor of [45, 12, 8]) {
      await c.init(minor);
      const fh = await opendir(c);
      const { entries, raw } = await readdir(c, fh, 0n, 65536);
      const expected = encodeReply(
        { op: "READDIR", header: { unique: c.lastUnique }, body: { entries: asDirents(host) } },
        { minor },
      );
      assert.deepEqual(raw, expected, `minor ${minor}`);
      assert.deepEqual(
        entries.map((d) => [d.ino, d.off, d.type, key(d.name)]),
        host.map((d) => [d.ino, BigInt.asUintN(64, d.off), d.type, key(d.name)]),
      );
      // then the end of the directory: an empty list, again and again
      const last = entries[entries.length - 1].off;
      assert.equal((await readdir(c, fh, last, 65536)).raw.length, 16);
      assert.equal((await readdir(c, fh, last, 65536)).raw.length, 16);
    }
    assert.equal(c.server.handler.inodes.size, 1, "READDIR counts no lookups");
  },
);

testBoth(
  "READDIRPLUS: the reply is the bytes the codec encodes, for names looked up first and not",
  async (c, dir) => {
    const names = makeOddNames(dir);
    const host = hostListing(dir);
    const fh = await opendir(c);
    // first listing: no name is held yet
    const cold = await readdirplus(c, fh, 0n, 65536);
    const coldUnique = c.lastUnique;
    assert.equal(cold.entries.length, host.length);
    // the same names by LOOKUP, through the codec
    const looked = new Map<string, FuseEntryOut>();
    for (const n of names) {
      const r = await c.call("LOOKUP", ROOT, { name: n });
      assert.equal(r.error, 0);
      looked.set(key(n), r.body!);
    }
    const expectedEntries = asDirents(host).map((d) => ({
      entry_out: isDots(d.name) ? emptyEntry(d) : looked.get(key(d.name))!,
      dirent: d,
    }));
    const expected = (unique: bigint) =>
      encodeReply({ op: "READDIRPLUS", header: { unique }, body: { entries: expectedEntries } });
    assert.deepEqual(cold.raw, expected(coldUnique), "names not held before");
    // second listing: every name is held now
    const warm = await readdirplus(c, fh, 0n, 65536);
    assert.deepEqual(warm.raw, expected(c.lastUnique), "names held before");
    const ids = [...looked.values()].map((e) => e.nodeid);
    for (const id of ids) assert.equal(c.server.handler.inodes.get(id).nlookup, 3);
    for (const id of ids) await c.call("FORGET", id, { nlookup: 3n });
    assert.equal(c.server.handler.inodes.size, 1);
  },
);

testBoth(
  "2,000 entries: each once at sizes 100, 300, 4096; tiny sizes list and count nothing",
  async (c, dir) => {
    // names of 1 to 44 bytes: every padding
    for (let i = 0; i < 2000; i++) {
      Deno.writeFileSync(`${dir}/${"n".repeat(i % 40)}${i}`, new Uint8Array(0));
    }
    const host = hostListing(dir);
    assert.equal(host.length, 2002);
    const want = host.map((d) => [BigInt.asUintN(64, d.off), key(d.name)]);
    const fh = await opendir(c);
    for (const size of [100, 300, 4096]) {
      const got = await listAll(c, fh, size, false);
      assert.deepEqual(got.map((e) => [e.dirent.off, key(e.dirent.name)]), want, `size ${size}`);
    }
    for (const size of [300, 4096]) {
      const got = await listAll(c, fh, size, true);
      assert.deepEqual(got.map((e) => [e.dirent.off, key(e.dirent.name)]), want, `plus ${size}`);
      const counted = got.filter((e) => e.entry_out!.nodeid !== 0n);
      assert.equal(counted.length, 2000);
      for (const e of counted) await c.call("FORGET", e.entry_out!.nodeid, { nlookup: 1n });
      assert.equal(c.server.handler.inodes.size, 1, `plus ${size}: one lookup per entry`);
    }
    // a size too small for one record: nothing, nothing counted, nothing lost
    for (const size of [0, 1, 24, 100, 151]) {
      const r = await readdirplus(c, fh, 0n, size);
      assert.deepEqual(r.entries, [], `plus ${size}`);
    }
    assert.equal(c.server.handler.inodes.size, 1);
    for (const size of [0, 1, 24]) {
      assert.deepEqual((await readdir(c, fh, 0n, size)).entries, [], `size ${size}`);
    }
    assert.equal(
      (await readdir(c, fh, 0n, 4096)).entries[0].off,
      want[0][0],
      "then from the start",
    );
  },
);

testBoth("any returned offset resumes exactly there, in any order", async (c, dir) => {
  for (let i = 0; i < 2000; i++) {
    Deno.writeFileSync(`${dir}/f${"x".repeat(i % 13)}${i}`, new Uint8Array(0));
  }
  const host = hostListing(dir);
  const want = host.map((d) => [BigInt.asUintN(64, d.off), key(d.name)]);
  const fh = await opendir(c);
  const order = [...host.keys()];
  // a fixed shuffle: seeks backwards and forwards, and the same offset twice in a row
  for (let i = order.length - 1; i > 0; i--) {
    const j = (i * 7919 + 13) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  order.splice(10, 0, order[9]);
  for (const i of order) {
    const { entries } = await readdir(c, fh, want[i][0] as bigint, 200);
    const expected = want.slice(i + 1, i + 1 + entries.length);
    assert.ok(entries.length > 0 || i === want.length - 1, `entries after ${i}`);
    assert.deepEqual(entries.map((d) => [d.off, key(d.name)]), expected, `after entry ${i}`);
  }
  // READDIRPLUS too: from a few offsets, then forget what it counted
  for (const i of [1500, 3, 3, 1999, 700]) {
    const { entries } = await readdirplus(c, fh, want[i][0] as bigint, 1000);
    assert.deepEqual(
      entries.map((e) => [e.dirent.off, key(e.dirent.name)]),
      want.slice(i + 1, i + 1 + entries.length),
    );
    for (const e of entries) {
      if (e.entry_out.nodeid !== 0n) await c.call("FORGET", e.entry_out.nodeid, { nlookup: 1n });
    }
  }
  assert.equal(c.server.handler.inodes.size, 1);
  // offset 0 after the end starts again and sees what the host added since
  const end = want[want.length - 1][0] as bigint;
  assert.equal((await readdir(c, fh, end, 4096)).entries.length, 0);
  Deno.writeFileSync(`${dir}/added-later`, new Uint8Array(0));
  const again = await listAll(c, fh, 4096, false);
  assert.equal(again.length, 2003);
  assert.ok(again.some((e) => e.dirent.name.text === "added-later"));
});

testBoth(
  "READDIRPLUS lookup counts: held names, hard links; FORGET restores the table",
  async (c, dir) => {
    for (let i = 0; i < 300; i++) Deno.writeFileSync(`${dir}/file-${i}`, new Uint8Array(i));
    Deno.linkSync(`${dir}/file-5`, `${dir}/link-to-5`);
    Deno.mkdirSync(`${dir}/sub`);
    const held = new Map<string, bigint>();
    for (let i = 0; i < 300; i += 7) held.set(`file-${i}`, await c.lookup(ROOT, `file-${i}`));
    const sizeBefore = c.server.handler.inodes.size;
    assert.equal(sizeBefore, 1 + held.size);
    const fh = await opendir(c);
    const all = await listAll(c, fh, 4096, true);
    assert.equal(all.length, 304);
    const counts = new Map<bigint, number>();
    for (const e of all) {
      const name = e.dirent.name.text;
      const id = e.entry_out!.nodeid;
      if (name === "." || name === "..") {
        assert.equal(id, 0n, `${name} carries node id 0`);
        continue;
      }
      assert.notEqual(id, 0n, name);
      counts.set(id, (counts.get(id) ?? 0) + 1);
      if (held.has(name)) assert.equal(id, held.get(name), `${name} keeps its node id`);
      // the attributes are the host's, now
      const st = fs.statx(fs.AT_FDCWD, `${dir}/${name}`, { flags: fs.AT_SYMLINK_NOFOLLOW });
      const a = e.entry_out!.attr;
      assert.deepEqual([a.ino, a.mode, a.size, a.nlink], [st.ino, st.mode, st.size, st.nlink]);
    }
    const five = all.find((e) => e.dirent.name.text === "file-5")!.entry_out!.nodeid;
    assert.equal(counts.get(five), 2, "file-5 and its hard link are one node");
    for (const [id, n] of counts) {
      const extra = [...held.values()].includes(id) ? 1 : 0;
      assert.equal(c.server.handler.inodes.get(id).nlookup, n + extra);
    }
    for (const [id, n] of counts) await c.call("FORGET", id, { nlookup: BigInt(n) });
    assert.equal(c.server.handler.inodes.size, sizeBefore, "the table as before");
    for (const id of held.values()) assert.equal(c.server.handler.inodes.get(id).nlookup, 1);
  },
);

testBoth(
  "READDIRPLUS of names gone (node id 0) or replaced (the new object) between two requests",
  async (c, dir) => {
    for (let i = 0; i < 20; i++) Deno.writeFileSync(`${dir}/file-${i}`, new Uint8Array(0));
    const host = hostListing(dir);
    const named = host.filter((d) => !isDots(d.name)).map((d) => dec.decode(d.name));
    // the last three names the host lists: the first request does not reach them
    const [gone, goneHeld, replaced] = named.slice(-3);
    const goneHeldId = await c.lookup(ROOT, goneHeld);
    const replacedId = await c.lookup(ROOT, replaced);
    const fh = await opendir(c);
    const first = await readdirplus(c, fh, 0n, 400); // two entries
    assert.equal(first.entries.length, 2);
    // the host's batch is read; now the names change under it
    Deno.removeSync(`${dir}/${gone}`);
    Deno.removeSync(`${dir}/${goneHeld}`);
    Deno.writeFileSync(`${dir}/later`, new Uint8Array(3));
    const newIno = Deno.statSync(`${dir}/later`).ino!;
    Deno.renameSync(`${dir}/later`, `${dir}/${replaced}`);
    const rest: FuseDirentplus[] = [];
    let offset = first.entries[1].dirent.off;
    for (;;) {
      const r = await readdirplus(c, fh, offset, 400);
      if (r.entries.length === 0) break;
      rest.push(...r.entries);
      offset = r.entries[r.entries.length - 1].dirent.off;
    }
    const all = [...first.entries, ...rest];
    assert.deepEqual(all.map((e) => key(e.dirent.name)), host.map((d) => key(d.name)), "as listed");
    const byName = new Map(all.map((e) => [e.dirent.name.text, e]));
    for (const name of [gone, goneHeld]) {
      const e = byName.get(name)!;
      assert.deepEqual(e.entry_out, emptyEntry(e.dirent), `${name} is gone: node id 0`);
    }
    const r = byName.get(replaced)!;
    assert.equal(r.entry_out.attr.ino, BigInt(newIno), "the object now at the name");
    assert.equal(r.entry_out.attr.size, 3n);
    assert.notEqual(r.entry_out.nodeid, replacedId);
    assert.notEqual(r.entry_out.nodeid, 0n);
    // counted: every named entry but the two gone ones
    const counted = all.filter((e) => e.entry_out.nodeid !== 0n);
    assert.equal(counted.length, named.length - 2);
    for (const e of counted) await c.call("FORGET", e.entry_out.nodeid, { nlookup: 1n });
    await c.call("FORGET", goneHeldId, { nlookup: 1n });
    await c.call("FORGET", replacedId, { nlookup: 1n });
    assert.equal(c.server.handler.inodes.size, 1);
  },
);

Deno.test(
  "READDIR replies come from one reused buffer only when consumed at once without an observer",
  async () => {
    const dir = Deno.makeTempDirSync({ prefix: "ringside-readdir-" });
    for (let i = 0; i < 100; i++) Deno.writeFileSync(`${dir}/f${i}`, new Uint8Array(0));
    const seen: Uint8Array[] = [];
    const watched = new TestClient(
      createPassthrough(dir, { log: () => {}, observer: (_q, r) => seen.push(r!) }),
    );
    const plain = new TestClient(createPassthrough(dir, { log: () => {} }));
    try {
      for (const c of [watched, plain]) {
        await c.init();
        c.server.repliesConsumedAtOnce = true;
        const fh = await opendir(c);
        const a = await readdir(c, fh, 0n, 1024);
        const aBytes = a.raw.slice();
        const b = await readdir(c, fh, a.entries[a.entries.length - 1].off, 1024);
        const p = await readdirplus(c, fh, 0n, 1024);
        if (c === plain) {
          assert.equal(a.raw.buffer, b.raw.buffer, "reused");
          assert.equal(a.raw.buffer, p.raw.buffer, "reused");
          assert.notDeepEqual(a.raw, aBytes, "overwritten by the next reply");
        } else {
          assert.notEqual(a.raw.buffer, b.raw.buffer, "an observer keeps every reply");
          assert.deepEqual(seen.at(-1), p.raw);
          assert.deepEqual(seen.at(-3), aBytes);
        }
        c.server.repliesConsumedAtOnce = false;
        const d = await readdir(c, fh, 0n, 1024);
        const e = await readdir(c, fh, 0n, 1024);
        assert.notEqual(d.raw.buffer, e.raw.buffer, "fresh arrays otherwise");
        assert.equal(d.raw.byteLength, d.raw.buffer.byteLength, "of the reply's exact length");
        assert.deepEqual(d.raw.subarray(16), aBytes.subarray(16));
      }
    } finally {
      watched.server.close();
      plain.server.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

testBoth("Passthrough.readdir and readdirplus: the replies' entries, decoded", async (c, dir) => {
  const names = makeOddNames(dir);
  const fh = await opendir(c);
  const h = c.server.handler;
  const body = { fh, offset: 0n, size: 65536, ...READ_IN };
  const plain = [...h.readdir(body)];
  assert.deepEqual(
    plain.map((d) => [d.ino, d.off, d.type, key(d.name)]),
    (await readdir(c, fh, 0n, 65536)).entries.map((d) => [d.ino, d.off, d.type, key(d.name)]),
  );
  const plus = [...h.readdirplus(body)];
  const viaSession = (await readdirplus(c, fh, 0n, 65536)).entries;
  assert.deepEqual(plus, viaSession);
  const counted = plus.filter((e) => e.entry_out.nodeid !== 0n);
  assert.equal(counted.length, names.length);
  for (const e of counted) assert.equal(h.inodes.get(e.entry_out.nodeid).nlookup, 2);
});
