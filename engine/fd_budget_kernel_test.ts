/**
 * Real kernel: a tree with far more files than the server may hold
 * descriptors for, created, looked up, read, renamed, listed and removed
 * through a /dev/fuse mount. Past its budget the engine parks inodes as file
 * handles; the kernel must see no difference, and the server's descriptors
 * must stay within the budget.
 */
import assert from "node:assert/strict";
import { peerTest } from "../testing/peers.ts";
import { isMounted } from "../testing/mounts.ts";
import { mountDevFuse } from "../transports/dev_fuse.ts";
import { passthroughSpec } from "../transports/server_spec.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;
const FILES = 3000;

function openFds(pid: number | "self" = "self"): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** Creates, stats, reads, renames, lists and removes FILES files under `mp`; `during` runs while the kernel holds them all. */
function exercise(mp: string, during: () => void): void {
  Deno.mkdirSync(`${mp}/d`);
  Deno.mkdirSync(`${mp}/e`);
  for (let i = 0; i < FILES; i++) Deno.writeTextFileSync(`${mp}/d/f${i}`, `file ${i}`);
  // every file is now a node the kernel holds (its dentry is cached)
  for (let i = 0; i < FILES; i++) {
    const st = Deno.lstatSync(`${mp}/d/f${i}`);
    assert.equal(st.size, `file ${i}`.length);
  }
  during();
  for (let i = 0; i < FILES; i += 7) {
    assert.equal(Deno.readTextFileSync(`${mp}/d/f${i}`), `file ${i}`);
  }
  for (let i = 0; i < FILES; i += 3) Deno.renameSync(`${mp}/d/f${i}`, `${mp}/e/g${i}`);
  const inD = [...Deno.readDirSync(`${mp}/d`)].length;
  const inE = [...Deno.readDirSync(`${mp}/e`)].length;
  assert.equal(inE, Math.ceil(FILES / 3));
  assert.equal(inD + inE, FILES);
  for (let i = 0; i < FILES; i += 3) {
    assert.equal(Deno.readTextFileSync(`${mp}/e/g${i}`), `file ${i}`);
  }
  Deno.removeSync(`${mp}/d`, { recursive: true });
  Deno.removeSync(`${mp}/e`, { recursive: true });
  assert.deepEqual([...Deno.readDirSync(mp)], []);
}

peerTest(
  "kernel: 3000 files through a mount allowed 64 inode descriptors; the server holds no more",
  { needs: ["fuse"] },
  async () => {
    const shared = Deno.makeTempDirSync({ prefix: "ringside-fdbudget-shared-" });
    const mp = Deno.makeTempDirSync({ prefix: "ringside-fdbudget-mnt-" });
    const before = openFds();
    const m = await mountDevFuse(
      mp,
      passthroughSpec(shared, { cache: "auto", maxInodeFds: 64 }),
      { log: (l) => console.error(`[mount] ${l}`) },
    );
    try {
      exercise(mp, () => {
        // the mount's own descriptors (device, Worker plumbing) are a few dozen at most
        const held = openFds() - before;
        assert.ok(held <= 64 + 40, `${held} descriptors held for ${FILES} files`);
      });
    } finally {
      const end = await m.unmount();
      assert.equal(end.reason, "unmounted");
    }
    assert.equal(Deno.readDirSync(shared).next().done, true, "the host saw every removal");
    Deno.removeSync(shared, { recursive: true });
    Deno.removeSync(mp);
  },
);

peerTest(
  "kernel: `ringside mount` limited to 256 open files serves 3000 files (its default budget parks)",
  { needs: ["fuse"] },
  async () => {
    const shared = Deno.makeTempDirSync({ prefix: "ringside-fdlimit-shared-" });
    const mp = Deno.makeTempDirSync({ prefix: "ringside-fdlimit-mnt-" });
    const child = new Deno.Command("bash", {
      args: [
        "-c",
        'ulimit -n 256 && exec "$0" run -A "$1" mount --foreground "$2" "$3"',
        Deno.execPath(),
        MAIN,
        shared,
        mp,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      for (let i = 0; i < 600 && !isMounted(mp); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(isMounted(mp), "ringside mount came up");
      exercise(mp, () => {
        const held = openFds(child.pid);
        assert.ok(held < 256, `the server holds ${held} descriptors`);
      });
    } finally {
      if (isMounted(mp)) await new Deno.Command("umount", { args: [mp] }).output();
      const out = await child.output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, err);
      assert.match(err, /unmounted after \d+ requests/);
    }
    Deno.removeSync(shared, { recursive: true });
    Deno.removeSync(mp);
  },
);
