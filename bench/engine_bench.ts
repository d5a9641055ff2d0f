/**
 * The passthrough engine in process, without a kernel or transport: the time
 * one request takes from its message bytes to its reply bytes (decode,
 * host system calls, encode), with replies from reused buffers where the
 * engine has them, as the /dev/fuse reader runs it. Requests are encoded once, outside the timed
 * loop; where a request needs an id from the previous reply (CREATE's node id
 * and handle), the id is patched into a prepared message.
 *
 * ```sh
 * deno bench -A bench/engine_bench.ts                      # shared dir on /dev/shm
 * RINGSIDE_BENCH_DIR=/var/tmp deno bench -A bench/engine_bench.ts
 * ```
 *
 * tmpfs by default: on ext4 the cost of creating files depends on how many
 * were deleted in the last few seconds (ext4 skips recently freed inodes), so
 * the numbers measure the file system more than the engine.
 *
 * @module
 */
import { encodeRequest, type FuseRequestInit } from "../codecs/fuse/mod.ts";
import { createPassthrough } from "../engine/session.ts";

const O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200;
const base = Deno.env.get("RINGSIDE_BENCH_DIR") ??
  (Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : undefined);
const dir = Deno.makeTempDirSync({ prefix: "ringside-engine-bench-", dir: base });
Deno.writeFileSync(`${dir}/file`, new Uint8Array(1 << 20).fill(7));
const server = createPassthrough(dir, { cache: "auto", log: () => {} });
// as the /dev/fuse reader runs it: each reply is used before the next request
server.repliesConsumedAtOnce = true;

let unique = 1n;
function request(op: string, nodeid: bigint, body: unknown): Uint8Array {
  return encodeRequest(
    { op, header: { unique: unique++, nodeid, uid: 0, gid: 0, pid: 1 }, body } as FuseRequestInit,
    { minor: 45 },
  );
}

function call(bytes: Uint8Array, on = server): Uint8Array {
  const reply = on.handle(bytes);
  if (!(reply instanceof Uint8Array)) throw new Error("expected a reply now");
  const error = new DataView(reply.buffer, reply.byteOffset).getInt32(4, true);
  if (error !== 0) throw new Error(`request failed with errno ${-error}`);
  return reply;
}

function u64(reply: Uint8Array, offset: number): bigint {
  return new DataView(reply.buffer, reply.byteOffset).getBigUint64(offset, true);
}

call(request("INIT", 0n, { major: 7, minor: 45, max_readahead: 131072, flags: 0, flags2: 0 }));
const fileId = u64(call(request("LOOKUP", 1n, { name: "file" })), 16);
const fh = u64(call(request("OPEN", fileId, { flags: O_RDWR, open_flags: 0 })), 16);

const lookup = request("LOOKUP", 1n, { name: "file" });
const forgetFile = request("FORGET", fileId, { nlookup: 1n });
const lookupMissing = request("LOOKUP", 1n, { name: "missing" });
const getattr = request("GETATTR", fileId, { getattr_flags: 0, dummy: 0, fh: 0n });
const read4k = request("READ", fileId, {
  fh,
  offset: 4096n,
  size: 4096,
  read_flags: 0,
  lock_owner: 0n,
  flags: 0,
  padding: 0,
});
const read128k = request("READ", fileId, {
  fh,
  offset: 131072n,
  size: 131072,
  read_flags: 0,
  lock_owner: 0n,
  flags: 0,
  padding: 0,
});
const write4k = request("WRITE", fileId, {
  fh,
  offset: 8192n,
  size: 4096,
  write_flags: 0,
  lock_owner: 0n,
  flags: 0,
  padding: 0,
  data: new Uint8Array(4096).fill(1),
});
const create = request("CREATE", 1n, {
  flags: O_WRONLY | O_CREAT | O_EXCL,
  mode: 0o100644,
  umask: 0o022,
  open_flags: 0,
  name: "new",
});
const release = request("RELEASE", 0n, { fh: 0n, flags: 0, release_flags: 0, lock_owner: 0n });
const releaseView = new DataView(release.buffer, release.byteOffset);
const unlink = request("UNLINK", 1n, { name: "new" });
const forgetNew = request("FORGET", 0n, { nlookup: 1n });
const forgetView = new DataView(forgetNew.buffer, forgetNew.byteOffset);

// a 1,000-entry directory listed as the kernel does: 4 KiB requests from
// offset 0, each resuming at the last returned cookie, until an empty reply
Deno.mkdirSync(`${dir}/list`);
for (let i = 0; i < 1000; i++) Deno.writeFileSync(`${dir}/list/file-${i}`, new Uint8Array(0));
const listId = u64(call(request("LOOKUP", 1n, { name: "list" })), 16);
const listFh = u64(call(request("OPENDIR", listId, { flags: 0, open_flags: 0 })), 16);
const READDIR_SIZE = 4096;

function readdirRequest(op: "READDIR" | "READDIRPLUS"): Uint8Array {
  return request(op, listId, {
    fh: listFh,
    offset: 0n,
    size: READDIR_SIZE,
    read_flags: 0,
    lock_owner: 0n,
    flags: 0,
    padding: 0,
  });
}
const readdir = readdirRequest("READDIR");
const readdirplus = readdirRequest("READDIRPLUS");

// BATCH_FORGET of every entry a READDIRPLUS listing counted (node ids patched in)
const forgetAll = request("BATCH_FORGET", 0n, {
  count: 1000,
  dummy: 0,
  forgets: Array.from({ length: 1000 }, () => ({ nodeid: 0n, nlookup: 1n })),
});
const forgetAllView = new DataView(forgetAll.buffer, forgetAll.byteOffset);

/**
 * One whole listing with the prepared `bytes`; returns the entries seen (`.`
 * and `..` included). With `forget`, READDIRPLUS's counted node ids go into
 * {@linkcode forgetAll}.
 */
function listing(bytes: Uint8Array, plus: boolean, forget = false): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  const head = plus ? 128 : 0; // fuse_entry_out before each fuse_dirent
  v.setBigUint64(48, 0n, true); // fuse_read_in.offset
  let entries = 0;
  let counted = 0;
  for (;;) {
    const reply = call(bytes);
    if (reply.length === 16) return entries;
    const r = new DataView(reply.buffer, reply.byteOffset, reply.length);
    let last = 0;
    for (let p = 16; p < reply.length; entries++) {
      if (forget) {
        const nodeid = r.getBigUint64(p, true); // fuse_entry_out.nodeid
        if (nodeid !== 0n) forgetAllView.setBigUint64(48 + 16 * counted++, nodeid, true);
      }
      last = p + head;
      p += (head + 24 + r.getUint32(last + 16, true) + 7) & ~7;
    }
    v.setBigUint64(48, r.getBigUint64(last + 8, true), true);
  }
}

Deno.bench("READDIR of 1,000 entries (4 KiB requests)", { group: "readdir" }, () => {
  if (listing(readdir, false) !== 1002) throw new Error("expected 1,002 entries");
});

// names the client does not hold (every lookup is forgotten after the listing);
// before the next case, which leaves them all held
Deno.bench(
  "READDIRPLUS of 1,000 new entries (4 KiB requests) + BATCH_FORGET",
  { group: "readdir" },
  () => {
    if (listing(readdirplus, true, true) !== 1002) throw new Error("expected 1,002 entries");
    server.handle(forgetAll);
  },
);

// each listing counts a lookup per entry and nothing forgets them (as when the
// kernel keeps them cached), so from the second listing on every name is held
Deno.bench("READDIRPLUS of 1,000 held entries (4 KiB requests)", { group: "readdir" }, () => {
  if (listing(readdirplus, true) !== 1002) throw new Error("expected 1,002 entries");
});

Deno.bench("LOOKUP (hit, with its FORGET)", () => {
  call(lookup);
  server.handle(forgetFile);
});

Deno.bench("LOOKUP of a missing name (ENOENT)", () => {
  const r = server.handle(lookupMissing) as Uint8Array;
  if (r[4] === 0) throw new Error("expected ENOENT");
});

Deno.bench("GETATTR", () => {
  call(getattr);
});

Deno.bench("READ 4 KiB", () => {
  call(read4k);
});

Deno.bench("READ 128 KiB (reply allocated)", { group: "read128k" }, () => {
  server.repliesConsumedAtOnce = false;
  call(read128k);
  server.repliesConsumedAtOnce = true;
});

Deno.bench("READ 128 KiB (reused reply, as on /dev/fuse)", { group: "read128k" }, () => {
  call(read128k);
});

Deno.bench("WRITE 4 KiB", () => {
  call(write4k);
});

Deno.bench("CREATE + RELEASE + UNLINK (+ FORGET)", () => {
  const r = call(create);
  const nodeid = u64(r, 16);
  const handle = u64(r, 16 + 128);
  releaseView.setBigUint64(16, nodeid, true);
  releaseView.setBigUint64(40, handle, true);
  call(release);
  call(unlink);
  forgetView.setBigUint64(16, nodeid, true);
  server.handle(forgetNew);
});

// Past the descriptor budget: a second server allowed 2 inode descriptors
// (the root and one more), GETATTR alternating between two files, so every
// request reopens a parked inode by file handle and parks the other.
const parkedServer = createPassthrough(dir, { cache: "auto", log: () => {}, maxInodeFds: 2 });
parkedServer.repliesConsumedAtOnce = true;
call(
  request("INIT", 0n, { major: 7, minor: 45, max_readahead: 131072, flags: 0, flags2: 0 }),
  parkedServer,
);
Deno.writeFileSync(`${dir}/other`, new Uint8Array(10));
const parkedA = u64(call(request("LOOKUP", 1n, { name: "file" }), parkedServer), 16);
const parkedB = u64(call(request("LOOKUP", 1n, { name: "other" }), parkedServer), 16);
const getattrA = request("GETATTR", parkedA, { getattr_flags: 0, dummy: 0, fh: 0n });
const getattrB = request("GETATTR", parkedB, { getattr_flags: 0, dummy: 0, fh: 0n });

Deno.bench("2 GETATTRs, each of a parked inode (reopened by file handle)", () => {
  call(getattrA, parkedServer);
  call(getattrB, parkedServer);
});

// Many inodes known, few held: a server allowed 1,000 descriptors that has
// looked up all 20,000 files of a directory, then LOOKUP name after name, so
// every request takes a parked inode's descriptor back and every 125th parks
// a batch (the table looks only at the inodes that hold a descriptor).
const MANY = 20_000;
Deno.mkdirSync(`${dir}/many`);
for (let i = 0; i < MANY; i++) Deno.writeFileSync(`${dir}/many/f${i}`, new Uint8Array(0));
const manyServer = createPassthrough(dir, { cache: "auto", log: () => {}, maxInodeFds: 1000 });
manyServer.repliesConsumedAtOnce = true;
call(
  request("INIT", 0n, { major: 7, minor: 45, max_readahead: 131072, flags: 0, flags2: 0 }),
  manyServer,
);
const manyDir = u64(call(request("LOOKUP", 1n, { name: "many" }), manyServer), 16);
const manyLookups = Array.from(
  { length: MANY },
  (_, i) => request("LOOKUP", manyDir, { name: `f${i}` }),
);
for (const r of manyLookups) call(r, manyServer);
let manyNext = 0;

Deno.bench("LOOKUP of a parked inode, 20,000 known and 1,000 held", () => {
  call(manyLookups[manyNext], manyServer);
  manyNext = (manyNext + 1) % MANY;
});

globalThis.addEventListener("unload", () => {
  server.close();
  parkedServer.close();
  manyServer.close();
  Deno.removeSync(dir, { recursive: true });
});
