/**
 * Real kernel: names that are not valid UTF-8, created, renamed, listed and
 * removed by bash through a /dev/fuse mount of the passthrough engine, land on
 * the host with exactly the bytes bash used.
 */
import assert from "node:assert/strict";
import * as fs from "../sys/fs.ts";
import { peerTest } from "../testing/peers.ts";
import { mountDevFuse } from "../transports/dev_fuse.ts";
import { passthroughSpec } from "../transports/server_spec.ts";

/** The raw names in a host directory (getdents64, no decoding), sorted by bytes. */
function hostNames(dir: string, sub?: Uint8Array): string[] {
  const root = fs.openat(fs.AT_FDCWD, dir, { flags: fs.O_RDONLY | fs.O_DIRECTORY });
  const fd = sub === undefined
    ? root
    : fs.openat(root, sub, { flags: fs.O_RDONLY | fs.O_DIRECTORY });
  const buf = new Uint8Array(64 * 1024);
  const out: string[] = [];
  try {
    for (;;) {
      const n = fs.getdents64(fd, buf);
      if (n === 0) break;
      for (const d of fs.readDirents(buf, n)) {
        const hex = Array.from(d.name, (b) => b.toString(16).padStart(2, "0")).join("");
        if (hex !== "2e" && hex !== "2e2e") out.push(hex);
      }
    }
  } finally {
    if (fd !== root) fs.close(fd);
    fs.close(root);
  }
  return out.sort();
}

async function bash(cwd: string, script: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-c", script], cwd, stderr: "piped" })
    .output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `bash failed: ${err}`);
  return new TextDecoder().decode(out.stdout);
}

peerTest(
  "kernel: bash creates, renames, lists and removes invalid-UTF-8 names through the mount; the host has the exact bytes",
  { needs: ["fuse"] },
  async () => {
    const shared = Deno.makeTempDirSync({ prefix: "ringside-bytes-shared-" });
    const mp = Deno.makeTempDirSync({ prefix: "ringside-bytes-mnt-" });
    const m = await mountDevFuse(mp, passthroughSpec(shared, { cache: "never" }), {
      log: () => {},
    });
    try {
      await bash(mp, String.raw`touch $'\xff\xfe' && mkdir $'d\xc0' && echo hi > $'d\xc0/\x80z'`);
      assert.deepEqual(hostNames(shared), ["64c0", "fffe"]);
      assert.deepEqual(hostNames(shared, new Uint8Array([0x64, 0xc0])), ["807a"]);

      // ls through the mount shows the same bytes (escaped), cat reads through the odd names
      const ls = await bash(mp, "ls --escape -1");
      assert.deepEqual(ls.trim().split("\n").sort(), ["\\377\\376", "d\\300"]);
      assert.equal(await bash(mp, String.raw`cat $'d\xc0/\x80z'`), "hi\n");

      // rename and a symlink whose target is not UTF-8 either
      await bash(mp, String.raw`mv $'\xff\xfe' $'\xfe\xff.txt' && ln -s $'./\xff\x80' $'l\xe9'`);
      assert.deepEqual(hostNames(shared), ["64c0", "6ce9", "feff2e747874"]);
      const root = fs.openat(fs.AT_FDCWD, shared, { flags: fs.O_PATH | fs.O_DIRECTORY });
      try {
        assert.deepEqual(
          Array.from(fs.readlinkat(root, new Uint8Array([0x6c, 0xe9]))),
          [0x2e, 0x2f, 0xff, 0x80],
        );
      } finally {
        fs.close(root);
      }
      const target = await bash(mp, String.raw`readlink $'l\xe9' | od -An -tx1`);
      assert.equal(target.trim().replace(/\s+/g, " "), "2e 2f ff 80 0a");

      // remove everything by its bytes
      await bash(mp, String.raw`rm $'\xfe\xff.txt' $'l\xe9' $'d\xc0/\x80z' && rmdir $'d\xc0'`);
      assert.deepEqual(hostNames(shared), []);
    } finally {
      await m.unmount();
      Deno.removeSync(mp);
      Deno.removeSync(shared, { recursive: true });
    }
  },
);
