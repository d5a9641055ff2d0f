/**
 * The proof on a real session: the host kernel through /dev/fuse (ringside's
 * engine, recorded) runs a workload with creates, renames, writes, links,
 * xattrs and directory listings; the capture is replayed against a fresh copy
 * of the starting tree (zero divergences, same final tree), against a copy
 * with one file changed (exactly that file's divergences), and with
 * concurrency (the same final tree as serial).
 */
import assert from "node:assert/strict";
import { peerTest } from "../../testing/peers.ts";
import { mountDevFuse, passthroughSpec } from "../../transports/mod.ts";
import { recordingServerSpec } from "../../engine/recorder.ts";
import { compareTreeStates, copyTree, treeState } from "../../engine/tree_state.ts";
import { runReplay } from "./replay.ts";
import { loadCapture } from "./_replay_io.ts";
import { decodeRecorded } from "../../engine/replayer.ts";

const TREE = new URL("../../testdata/demo-tree", import.meta.url).pathname;

const WORKLOAD = [
  "set -e",
  'cd "$1"',
  "ls -la . src notes > /dev/null",
  "cat README.txt src/main.c > /dev/null",
  "mkdir -p build/obj",
  "printf 'int x = 1;\\n' > build/obj/x.c",
  'for i in 1 2 3 4 5; do echo "line $i" >> notes/log.txt; done',
  "mv notes/log.txt notes/log.old",
  "ln notes/log.old notes/log.hard",
  "ln -s ../README.txt notes/readme",
  'python3 -c \'import os; os.setxattr("notes/log.old", "user.tag", b"v1"); print(os.getxattr("notes/log.old", "user.tag"), os.listxattr("notes/log.old"))\' > /dev/null',
  "cp src/util.h build/util.h",
  "rm src/util.h",
  "truncate -s 10 notes/todo.txt",
  "chmod 600 build/util.h",
  "find . -type f | sort > /dev/null",
  "cat notes/log.hard notes/readme build/obj/x.c > /dev/null",
].join("\n");

async function recordKernelSession(work: string): Promise<void> {
  await copyTree(TREE, `${work}/recorded`);
  await Deno.mkdir(`${work}/mnt`);
  const spec = recordingServerSpec(passthroughSpec(`${work}/recorded`, { xattr: true }), {
    path: `${work}/kernel.pcapng`,
    channel: "/dev/fuse",
    // written in the reader Worker itself: this test is about replay, not the writer thread
    // (replay_capture_test records through the real `ringside mount --record`)
    writerThread: false,
  });
  const m = await mountDevFuse(`${work}/mnt`, spec, { log: () => {} });
  try {
    const run = await new Deno.Command("sh", { args: ["-c", WORKLOAD, "sh", `${work}/mnt`] })
      .output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  } finally {
    await m.unmount();
  }
}

peerTest(
  "real kernel session: replay on a fresh copy agrees, a changed copy diverges exactly there, concurrency = serial",
  {
    needs: ["fuse"],
  },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "ringside-kernel-replay-" });
    try {
      await recordKernelSession(work);
      const capture = `${work}/kernel.pcapng`;
      // 1. fresh copy
      await copyTree(TREE, `${work}/fresh`);
      const fresh = await runReplay(capture, {
        dir: `${work}/fresh`,
        expectFinal: `${work}/recorded`,
      });
      assert.deepEqual(fresh.input.report.divergences, []);
      assert.deepEqual(fresh.input.report.missingList, []);
      assert.deepEqual(fresh.input.final, []);
      assert.ok(fresh.input.report.total > 50, `${fresh.input.report.total} requests`);
      const recorded = decodeRecorded((await loadCapture(capture)).exchanges);
      assert.equal(recorded.length, fresh.result.total);
      const ops = new Set(recorded.map((x) => x.req.op));
      for (
        const op of [
          "CREATE",
          "RENAME",
          "WRITE",
          "LINK",
          "SYMLINK",
          "SETXATTR",
          "GETXATTR",
          "UNLINK",
          "MKDIR",
        ]
      ) {
        assert.ok(
          ops.has(op as never) || (op === "RENAME" && ops.has("RENAME2" as never)),
          `the workload sent ${op}`,
        );
      }
      assert.ok(ops.has("READDIRPLUS" as never) || ops.has("READDIR" as never));
      // 2. one file changed: README.txt (read by cat, linked to by notes/readme)
      await copyTree(TREE, `${work}/changed`);
      await Deno.writeTextFile(`${work}/changed/README.txt`, "changed\n");
      const changed = await runReplay(capture, {
        dir: `${work}/changed`,
        expectFinal: `${work}/recorded`,
      });
      const fields = new Set(changed.input.report.divergences.map((d) => d.field));
      assert.ok(changed.input.report.divergences.length > 0);
      for (const f of fields) {
        assert.ok(
          ["attr.size", "size", "data"].includes(f),
          `field ${f} follows from README.txt's content: ${
            JSON.stringify(
              changed.input.report.divergences.filter((d) => d.field === f),
              (_, v) => typeof v === "bigint" ? String(v) : v,
            )
          }`,
        );
      }
      for (const d of changed.input.report.divergences) {
        if (d.field === "data") assert.match(d.actual, /"changed\\n"/);
        if (d.field === "attr.size") assert.deepEqual([d.expected, d.actual], ["223", "8"]);
      }
      assert.deepEqual(changed.input.final?.map((f) => `${f.path} ${f.field}`), [
        "README.txt size",
        "README.txt content",
      ]);
      // 3. concurrency 8 gives the serial final state
      await copyTree(TREE, `${work}/parallel`);
      const par = await runReplay(capture, {
        dir: `${work}/parallel`,
        concurrency: "8",
        expectFinal: `${work}/recorded`,
      });
      assert.deepEqual(par.input.final, []);
      assert.deepEqual(
        compareTreeStates(await treeState(`${work}/fresh`), await treeState(`${work}/parallel`)),
        [],
      );
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
