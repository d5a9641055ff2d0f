/**
 * Replay and diff on real captures: the ones in testdata/captures (their
 * `--snapshot` sidecars restored into an empty directory, or checked against
 * a non-empty one), and fresh recordings made by the real `ringside mount
 * --record --snapshot` (whose final-state manifest replay and diff compare
 * without being told).
 */
import assert from "node:assert/strict";
import { peerTest } from "../../testing/peers.ts";
import { UserError } from "../errors.ts";
import { copyTree } from "../../engine/tree_state.ts";
import { decodeRecorded } from "../../engine/replayer.ts";
import { diffExchanges, pairRecordings, requestStreams } from "../../engine/differ.ts";
import { finalManifestPath, readFinalManifest } from "../../engine/snapshot.ts";
import { runReplay } from "./replay.ts";
import { runDiff } from "./diff.ts";
import { loadCapture, streamCapture } from "./_replay_io.ts";
import { Recorder, RecordingServer } from "../../engine/recorder.ts";
import { createPassthrough } from "../../engine/session.ts";
import { FuseScriptClient } from "../../engine/scripted_session.ts";
import { engineTarget, replay } from "../../engine/replayer.ts";
import { createDiffer } from "../../engine/differ.ts";

const CAPTURES = new URL("../../testdata/captures", import.meta.url).pathname;
const TREE = new URL("../../testdata/demo-tree", import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test("replay of the real testdata captures: the snapshot is restored into an absent --dir, a non-matching one is refused unless --force", async () => {
  const work = await Deno.makeTempDir({ prefix: "ringside-replay-captures-" });
  try {
    // the host kernel's untar/grep/make session: 5,225 requests, every one agrees
    const host = await runReplay(`${CAPTURES}/host_workload.pcapng`, { dir: `${work}/host` });
    assert.match(host.input.notes!.join("\n"), /initial state: restored snapshot .* into/);
    assert.ok(host.input.report.total > 5000, `${host.input.report.total} requests`);
    assert.deepEqual(host.input.report.divergences, []);
    assert.deepEqual(host.input.report.missingList, []);
    // no final manifest was recorded with these older captures: said, not guessed
    assert.match(host.input.notes!.join("\n"), /final state: not compared .* no recorded final/);
    assert.equal(host.input.final, undefined);

    // the real guest's session, recorded by `ringside serve` without --xattr: the kernel's
    // security.capability probe got ENOSYS there, the in-process engine serves xattrs
    const guest = await runReplay(`${CAPTURES}/guest_workload.pcapng`, { dir: `${work}/guest` });
    assert.deepEqual(
      guest.input.report.divergences.map((d) =>
        `${d.op} ${d.args} ${d.field} ${d.expected}→${d.actual}`
      ),
      ['GETXATTR name="security.capability" size=0 error ENOSYS→ENODATA'],
    );
    assert.equal(guest.input.report.missing, 0);

    // the guest's workload removes what it made: the directory is the snapshot again
    const again = await runReplay(`${CAPTURES}/guest_workload.pcapng`, { dir: `${work}/guest` });
    assert.match(again.input.notes![0], /matches snapshot/);

    // a directory that differs is refused with the first differences, in one line
    await Deno.writeTextFile(`${work}/guest/src/f1.txt`, "hi\n");
    await assert.rejects(
      () => runReplay(`${CAPTURES}/guest_workload.pcapng`, { dir: `${work}/guest` }),
      (e: unknown) =>
        e instanceof UserError && !e.message.includes("\n") &&
        /does not match the capture's snapshot .*\(2 differences: src\/f1\.txt size 14→3, src\/f1\.txt content/
          .test(e.message),
    );
    const forced = await runReplay(`${CAPTURES}/guest_workload.pcapng`, {
      dir: `${work}/guest`,
      force: true,
    });
    assert.match(forced.input.notes![0], /differs from snapshot .*--force.*src\/f1\.txt size/);
    assert.ok(forced.input.report.divergences.some((d) => d.field === "data"));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("diff pairing: per-path streams aligned by LCS pair a real capture with a reordered, thinned copy of itself", async () => {
  const { exchanges } = await loadCapture(`${CAPTURES}/host_workload.pcapng`);
  const a = decodeRecorded(exchanges);
  const streams = requestStreams(a);
  // B: everything under tree/d9 moved to the end (thousands of positions away: another
  // interleaving of independent work), and every 5th GETATTR elsewhere dropped
  const moved = a.filter((_, i) => streams[i]?.stream.startsWith("tree/d9") === true);
  let getattrs = 0;
  const dropped = new Set<number>();
  const rest = a.filter((x, i) => {
    if (streams[i]?.stream.startsWith("tree/d9") === true) return false;
    if (x.req.op === "GETATTR" && getattrs++ % 5 === 0) {
      dropped.add(x.ex.seq);
      return false;
    }
    return true;
  });
  assert.ok(moved.length > 100, `${moved.length} requests moved`);
  assert.ok(dropped.size > 10, `${dropped.size} GETATTRs dropped`);
  const b = [...rest, ...moved];
  // farther than any fixed window would look (the former pairing searched 256 requests ahead)
  assert.ok(rest.length - a.indexOf(moved[0]) > 1000);
  const { exchanges: paired, unpairedB } = pairRecordings(a, b);
  assert.deepEqual(unpairedB, []);
  // every request but the dropped GETATTRs found its partner; the GETATTRs of one file are
  // interchangeable, so a GETATTR may pair with its neighbour: everything else pairs with itself
  let others = 0;
  for (const x of paired) {
    if (x.sent === null || x.recorded.op === "GETATTR") continue;
    others++;
    assert.equal(x.sent, x.recorded, `#${x.seq} ${x.recorded.op} paired with itself`);
  }
  assert.ok(others > 4000, `${others} paired`);
  const report = diffExchanges(paired);
  assert.deepEqual(report.divergences, []);
  assert.equal(report.missing, dropped.size);
  assert.ok(report.missingList.every((m) => m.op === "GETATTR"));
});

async function mounted(mountpoint: string): Promise<boolean> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n").some((l) => l.split(" ")[4] === mountpoint);
}

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
  'python3 -c \'import os; os.setxattr("notes/log.old", "user.tag", b"v1"); print(os.getxattr("notes/log.old", "user.tag"))\' > /dev/null',
  "cp src/util.h build/util.h",
  "rm src/util.h",
  "truncate -s 10 notes/todo.txt",
  "chmod 600 build/util.h",
  "find . -type f | sort > /dev/null",
  "cat notes/log.hard notes/readme build/obj/x.c > /dev/null",
].join("\n");

/** Records WORKLOAD with the real `ringside mount --record --snapshot` on a copy of the demo tree. */
async function recordWithMount(work: string, name: string, change?: string): Promise<string> {
  const share = `${work}/${name}-share`;
  const mnt = `${work}/${name}-mnt`;
  const capture = `${work}/${name}.pcapng`;
  await copyTree(TREE, share);
  if (change !== undefined) await Deno.writeTextFile(`${share}/README.txt`, change);
  await Deno.mkdir(mnt);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "mount", share, mnt, "--xattr", "--record", capture, "--snapshot"]
      .concat("--foreground"),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const errors = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  const drain = (async () => {
    for (;;) {
      const { value, done } = await errors.read();
      if (done) break;
      stderr += value;
    }
  })();
  try {
    for (let i = 0; i < 300 && !(await mounted(mnt)); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(await mounted(mnt), `ringside mount came up: ${stderr}`);
    const run = await new Deno.Command("sh", { args: ["-c", WORKLOAD, "sh", mnt] }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  } finally {
    await new Deno.Command("umount", { args: [mnt] }).output();
    const status = await child.status;
    await drain;
    assert.equal(status.code, 0, stderr);
  }
  return capture;
}

peerTest(
  "ringside mount --record writes the final state; replay and diff compare it unasked: two recordings agree, a changed file is named exactly",
  { needs: ["fuse"] },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "ringside-mount-records-" });
    try {
      const a = await recordWithMount(work, "a");
      const b = await recordWithMount(work, "b");
      const c = await recordWithMount(work, "c", "changed\n");
      const fa = await readFinalManifest(a);
      assert.ok(fa !== undefined && fa.stale === undefined, `${finalManifestPath(a)} written`);
      const paths = fa.manifest.entries.map((e) => e.path);
      for (const p of ["build/obj/x.c", "notes/log.hard", "notes/readme", "build/util.h"]) {
        assert.ok(paths.includes(p), p);
      }
      assert.ok(!paths.includes("src/util.h"));
      const hard = fa.manifest.entries.filter((e) => e.link_group !== undefined);
      assert.deepEqual(hard.map((e) => e.path), ["notes/log.hard", "notes/log.old"]);

      // replay into an absent directory: the snapshot is restored, the recorded final state
      // compared without --expect-final
      const r = await runReplay(a, { dir: `${work}/replayed` });
      assert.match(r.input.notes!.join("\n"), /restored snapshot/);
      assert.match(
        r.input.notes!.join("\n"),
        /compared with the recorded .*a\.pcapng\.final\.json/,
      );
      assert.deepEqual(r.input.report.divergences, []);
      assert.deepEqual(r.input.report.missingList, []);
      assert.deepEqual(r.input.final, []);

      // two recordings of one workload: equivalent, final states identical
      const same = await runDiff(a, b, {});
      assert.deepEqual(same.report.divergences, []);
      assert.deepEqual(same.report.missingList, []);
      assert.deepEqual(same.final, []);
      assert.ok(same.report.total > 100);

      // B started with README.txt changed: the diff names exactly README.txt's reads and state
      const changed = await runDiff(a, c, {});
      assert.deepEqual(changed.report.missingList, []);
      const seen = new Set(
        changed.report.divergences.map((d) => `${d.op} ${d.field} ${d.expected}→${d.actual}`),
      );
      assert.deepEqual([...seen].sort(), [
        'READ data 223 bytes, at 0: "This small tree is what `deno task demo` serves."→8 bytes, at 0: "changed\\n"',
        "READ size 239→24",
      ]);
      assert.deepEqual(changed.final?.map((f) => `${f.path} ${f.field}`), [
        "README.txt size",
        "README.txt content",
      ]);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);

/** Records `cycles` × (CREATE, WRITE, RELEASE, GETATTR, UNLINK, FORGET) of distinct files. */
async function recordCycles(dir: string, capture: string, cycles: number): Promise<void> {
  const recorder = Recorder.open(capture, { writerThread: false });
  const server = new RecordingServer(createPassthrough(dir), recorder, { channel: "test" });
  const c = new FuseScriptClient((b) => Promise.resolve(server.handle(b)));
  await c.init();
  const data = new Uint8Array(4096).fill(7);
  for (let i = 0; i < cycles; i++) {
    const name = `f${i}`;
    const r = await c.call("CREATE", 1n, {
      flags: 0o101,
      mode: 0o100644,
      umask: 0,
      open_flags: 0,
      name,
    });
    const node = r.body!.entry.nodeid;
    const fh = r.body!.open.fh;
    await c.call("WRITE", node, {
      fh,
      offset: 0n,
      size: data.length,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data,
    });
    await c.call("RELEASE", node, { fh, flags: 0, release_flags: 0, lock_owner: 0n });
    await c.call("GETATTR", node, { getattr_flags: 0, dummy: 0, fh: 0n });
    await c.call("UNLINK", 1n, { name });
    await c.call("FORGET", node, { nlookup: 1n });
  }
  await server.close();
}

Deno.test("replay streams: what it holds does not grow with the capture (2,000 and 12,000 requests)", async () => {
  const work = await Deno.makeTempDir({ prefix: "ringside-replay-stream-" });
  try {
    const held = [];
    for (const cycles of [2000 / 6, 12000 / 6].map(Math.ceil)) {
      const rec = `${work}/rec-${cycles}`;
      await Deno.mkdir(rec);
      const capture = `${work}/c-${cycles}.pcapng`;
      await recordCycles(rec, capture, cycles);
      const target = `${work}/target-${cycles}`;
      await Deno.mkdir(target);
      const { exchanges } = await streamCapture(capture);
      const differ = createDiffer();
      let handed = 0;
      const result = await replay(exchanges, engineTarget(createPassthrough(target)), {
        onExchange: (x) => {
          handed++;
          differ.add(x);
        },
      });
      const report = differ.finish();
      assert.equal(result.total, 1 + cycles * 6);
      assert.equal(handed, result.total);
      assert.deepEqual(result.exchanges, [], "nothing kept when handed over");
      assert.deepEqual(report.divergences, []);
      assert.equal(report.missing, 0);
      held.push(result.held);
    }
    // the window is bounded by the scheduler (64 + its look-ahead); the tables hold what the
    // recording still held at its end: nothing, every file was unlinked and forgotten
    for (const h of held) {
      assert.ok(h.peakWindow <= 66, JSON.stringify(h));
      assert.ok(h.resources <= 66 * 4, JSON.stringify(h));
      assert.ok(h.uniques <= 66, JSON.stringify(h));
      assert.equal(h.names, 0, JSON.stringify(h));
      assert.equal(h.nodes, 0, JSON.stringify(h));
    }
    assert.equal(held[0].peakWindow, held[1].peakWindow);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
