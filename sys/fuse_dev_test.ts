/**
 * Real peer: the host kernel's FUSE client. A small server built on the FUSE
 * codec answers the kernel through /dev/fuse while `stat`, `ls`, `cat` and a
 * failing lookup run as subprocesses on the mount. Every request the kernel
 * sent must decode, and the kernel must accept every reply the encoder made
 * (the commands print the right things).
 */
import assert from "node:assert/strict";
import { peerTest } from "../testing/peers.ts";
import {
  closeFuseDevice,
  mountFuse,
  openFuseDevice,
  readFuseMessage,
  unmount,
  writeFuseMessage,
} from "./fuse_dev.ts";
import {
  encodeErrorReply,
  encodeReply,
  type FuseAttr,
  type FuseDirentInit,
  type FuseEntryOut,
  type FuseReplyInit,
  type FuseRequest,
  FuseStream,
  InitFlag,
  initFlagsWord,
  splitInitFlags,
} from "../codecs/fuse/mod.ts";

const CONTENT = "hello from ringside\n";

interface Node {
  ino: bigint;
  name: string;
  parent: bigint;
  mode: number;
  data?: Uint8Array;
}

const NODES: Node[] = [
  { ino: 1n, name: "", parent: 1n, mode: 0o40755 },
  {
    ino: 2n,
    name: "hello.txt",
    parent: 1n,
    mode: 0o100644,
    data: new TextEncoder().encode(CONTENT),
  },
  { ino: 3n, name: "sub", parent: 1n, mode: 0o40755 },
];

function attrOf(n: Node): FuseAttr {
  const size = BigInt(n.data?.length ?? 4096);
  return {
    ino: n.ino,
    size,
    blocks: (size + 511n) / 512n,
    atime: 1_700_000_000n,
    mtime: 1_700_000_000n,
    ctime: 1_700_000_000n,
    atimensec: 0,
    mtimensec: 0,
    ctimensec: 0,
    mode: n.mode,
    nlink: n.data ? 1 : 2,
    uid: 0,
    gid: 0,
    rdev: 0,
    blksize: 4096,
    flags: 0,
  };
}

function entryOf(n: Node): FuseEntryOut {
  return {
    nodeid: n.ino,
    generation: 1n,
    entry_valid: 1n,
    attr_valid: 1n,
    entry_valid_nsec: 0,
    attr_valid_nsec: 0,
    attr: attrOf(n),
  };
}

function dirents(dir: bigint): FuseDirentInit[] {
  const list: FuseDirentInit[] = [
    { ino: dir, off: 0n, namelen: 1, type: 4, name: "." },
    { ino: 1n, off: 0n, namelen: 2, type: 4, name: ".." },
  ];
  if (dir === 1n) {
    for (const n of NODES.slice(1)) {
      list.push({
        ino: n.ino,
        off: 0n,
        namelen: n.name.length,
        type: n.data ? 8 : 4,
        name: n.name,
      });
    }
  }
  return list.map((d, i) => ({ ...d, off: BigInt(i + 1) }));
}

const ERRNO = { ENOENT: 2, EIO: 5, ENOSYS: 38, ENOTDIR: 20 };

/** Answers one request; null when the kernel expects no reply. */
function answer(req: FuseRequest, minor: { value: number }): FuseReplyInit | Uint8Array | null {
  const unique = req.header.unique;
  const node = NODES.find((n) => n.ino === req.header.nodeid);
  const fail = (errno: number) => encodeErrorReply(unique, errno);
  switch (req.op) {
    case "INIT": {
      minor.value = Math.min(45, req.body.minor);
      const offered = initFlagsWord(req.body.flags, req.body.flags2);
      const want = InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.DO_READDIRPLUS |
        InitFlag.MAX_PAGES | InitFlag.PARALLEL_DIROPS | InitFlag.INIT_EXT;
      const { flags, flags2 } = splitInitFlags(offered & want);
      return {
        op: "INIT",
        header: { unique },
        body: {
          major: 7,
          minor: minor.value,
          max_readahead: req.body.max_readahead,
          flags,
          max_background: 16,
          congestion_threshold: 12,
          max_write: 128 * 1024,
          time_gran: 1,
          max_pages: 32,
          map_alignment: 0,
          flags2,
          max_stack_depth: 0,
          request_timeout: 0,
        },
      };
    }
    case "LOOKUP": {
      const child = NODES.find((n) =>
        n.parent === req.header.nodeid && n.name === req.body.name.text
      );
      if (!child || child.ino === 1n) return fail(ERRNO.ENOENT);
      return { op: "LOOKUP", header: { unique }, body: entryOf(child) };
    }
    case "GETATTR":
      if (!node) return fail(ERRNO.ENOENT);
      return {
        op: "GETATTR",
        header: { unique },
        body: { attr_valid: 1n, attr_valid_nsec: 0, dummy: 0, attr: attrOf(node) },
      };
    case "STATX": {
      if (!node) return fail(ERRNO.ENOENT);
      const a = attrOf(node);
      const t = { tv_sec: a.mtime, tv_nsec: 0 };
      return {
        op: "STATX",
        header: { unique },
        body: {
          attr_valid: 1n,
          attr_valid_nsec: 0,
          flags: 0,
          stat: {
            mask: 0x7ff, // STATX_BASIC_STATS
            blksize: 4096,
            attributes: 0n,
            nlink: a.nlink,
            uid: 0,
            gid: 0,
            mode: a.mode,
            ino: a.ino,
            size: a.size,
            blocks: a.blocks,
            attributes_mask: 0n,
            atime: t,
            btime: t,
            ctime: t,
            mtime: t,
            rdev_major: 0,
            rdev_minor: 0,
            dev_major: 0,
            dev_minor: 0,
          },
        },
      };
    }
    case "OPENDIR":
      if (!node || node.data) return fail(ERRNO.ENOTDIR);
      return {
        op: "OPENDIR",
        header: { unique },
        body: { fh: node.ino, open_flags: 0, backing_id: 0 },
      };
    case "READDIR":
    case "READDIRPLUS": {
      const all = dirents(req.header.nodeid).slice(Number(req.body.offset));
      const fits: FuseDirentInit[] = [];
      let used = 0;
      for (const d of all) {
        const size = ((req.op === "READDIR" ? 24 : 152) + d.name.length + 7) & ~7;
        if (used + size > req.body.size) break;
        used += size;
        fits.push(d);
      }
      if (req.op === "READDIR") {
        return { op: "READDIR", header: { unique }, body: { entries: fits } };
      }
      return {
        op: "READDIRPLUS",
        header: { unique },
        body: {
          entries: fits.map((d) => {
            const n = NODES.find((x) => x.ino === d.ino)!;
            // "." and ".." carry no entry for the kernel to link
            const dots = d.name === "." || d.name === "..";
            return {
              entry_out: dots
                ? { ...entryOf(n), nodeid: 0n, entry_valid: 0n, attr_valid: 0n }
                : entryOf(n),
              dirent: d,
            };
          }),
        },
      };
    }
    case "OPEN":
      if (!node?.data) return fail(ERRNO.EIO);
      return {
        op: "OPEN",
        header: { unique },
        body: { fh: node.ino, open_flags: 0, backing_id: 0 },
      };
    case "READ": {
      const data = node?.data ?? new Uint8Array();
      const start = Math.min(Number(req.body.offset), data.length);
      return {
        op: "READ",
        header: { unique },
        body: { data: data.subarray(start, Math.min(data.length, start + req.body.size)) },
      };
    }
    case "FLUSH":
    case "RELEASE":
    case "RELEASEDIR":
    case "ACCESS":
      return { op: req.op, header: { unique }, body: {} } as FuseReplyInit;
    case "STATFS":
      return {
        op: "STATFS",
        header: { unique },
        body: {
          st: {
            blocks: 100n,
            bfree: 50n,
            bavail: 50n,
            files: 10n,
            ffree: 7n,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            padding: 0,
          },
        },
      };
    case "FORGET":
    case "BATCH_FORGET":
    case "INTERRUPT":
      return null;
    default:
      return fail(ERRNO.ENOSYS);
  }
}

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

peerTest("kernel FUSE client: stat, ls, cat and a failed lookup against a codec-built server", {
  needs: ["fuse"],
}, async () => {
  const mnt = await Deno.makeTempDir({ prefix: "ringside-fuse-" });
  const fd = openFuseDevice();
  const stream = new FuseStream();
  const minor = { value: 45 };
  const invalid: string[] = [];
  const rejected: string[] = [];
  const seen = new Set<string>();
  let serving: Promise<void> = Promise.resolve();
  try {
    mountFuse(fd, mnt);
    serving = (async () => {
      const buf = new Uint8Array((1 << 20) + 4096);
      for (;;) {
        const n = await readFuseMessage(fd, buf);
        if (n <= 0) return; // unmounted: the connection is gone
        const bytes = buf.slice(0, n);
        const ev = stream.request(bytes);
        if (ev.kind !== "request") {
          invalid.push(ev.kind === "invalid" ? ev.error.message : ev.kind);
          const unique = new DataView(bytes.buffer).getBigUint64(8, true);
          writeFuseMessage(fd, encodeErrorReply(unique, ERRNO.EIO));
          continue;
        }
        seen.add(ev.message.op);
        const a = answer(ev.message, minor);
        if (a === null) continue;
        const reply = a instanceof Uint8Array ? a : encodeReply(a, { minor: minor.value });
        const back = stream.reply(reply);
        if (back.kind !== "reply") invalid.push(`our own reply: ${back.kind}`);
        try {
          writeFuseMessage(fd, reply);
        } catch (e) {
          rejected.push(`${ev.message.op}: ${(e as Error).message}`);
        }
      }
    })();

    const st = await run("stat", ["-c", "%s %F %a %h %i", `${mnt}/hello.txt`]);
    assert.equal(st.code, 0, st.err);
    assert.equal(st.out, `${CONTENT.length} regular file 644 1 2\n`);
    const ls = await run("ls", ["-a", mnt]);
    assert.equal(ls.code, 0, ls.err);
    assert.equal(ls.out, ".\n..\nhello.txt\nsub\n");
    const lsl = await run("ls", ["-ln", mnt]);
    assert.equal(lsl.code, 0, lsl.err);
    assert.match(lsl.out, /^-rw-r--r-- 1 0 0 +20 .* hello\.txt$/m);
    assert.match(lsl.out, /^drwxr-xr-x 2 0 0 +4096 .* sub$/m);
    const cat = await run("cat", [`${mnt}/hello.txt`]);
    assert.equal(cat.code, 0, cat.err);
    assert.equal(cat.out, CONTENT);
    const missing = await run("stat", [`${mnt}/no-such-file`]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.err, /No such file or directory/);
    const df = await run("stat", ["-f", "-c", "%b %a %S", mnt]);
    assert.equal(df.code, 0, df.err);
    assert.equal(df.out, "100 50 4096\n");
  } finally {
    unmount(mnt);
    await serving;
    closeFuseDevice(fd);
    await Deno.remove(mnt);
  }
  assert.deepEqual(invalid, [], "every request the kernel sent decodes");
  assert.deepEqual(rejected, [], "the kernel accepts every reply");
  for (const op of ["INIT", "LOOKUP", "OPENDIR", "OPEN", "READ", "RELEASE", "STATFS"]) {
    assert.ok(seen.has(op), `the kernel sent ${op} (saw ${[...seen].join(" ")})`);
  }
  assert.ok(seen.has("READDIRPLUS") || seen.has("READDIR"), [...seen].join(" "));
  assert.ok(seen.has("GETATTR") || seen.has("STATX"), [...seen].join(" "));
});
