/**
 * Replay of a recorded session through the vhost-user front-end, against the
 * C virtiofsd and against ringside's own back-end (`ringside serve`), each
 * serving a fresh copy of the tree the session was recorded on.
 */
import assert from "node:assert/strict";
import { peerTest } from "../../testing/peers.ts";
import { runTour } from "./demo.ts";
import { runReplay } from "./replay.ts";
import { copyTree } from "../../engine/tree_state.ts";
import { readFinalManifest, restoreSnapshot } from "../../engine/snapshot.ts";
import { runDiff } from "./diff.ts";

const TREE = new URL("../../testdata/demo-tree", import.meta.url).pathname;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function startBackend(kind: "virtiofsd" | "ringside", socket: string, dir: string, xattr: boolean) {
  const cmd = kind === "virtiofsd"
    ? new Deno.Command("/usr/lib/qemu/virtiofsd", {
      args: [
        `--socket-path=${socket}`,
        "-o",
        `source=${dir}`,
        "-o",
        "cache=none",
        "-o",
        xattr ? "xattr" : "no_xattr",
      ],
      stdout: "null",
      stderr: "null",
    })
    : new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "serve",
        "--socket",
        socket,
        "--shared-dir",
        dir,
        "--cache",
        "never",
        ...(xattr ? ["--xattr"] : []),
      ],
      stdout: "null",
      stderr: "null",
    });
  return cmd.spawn();
}

async function replayThrough(
  kind: "virtiofsd" | "ringside",
  xattr: boolean,
  concurrency: number,
  restore: boolean,
) {
  const work = await Deno.makeTempDir({ prefix: `ringside-replay-${kind}-` });
  const child = { p: undefined as Deno.ChildProcess | undefined };
  try {
    // records session.pcapng with its snapshot and final state
    await runTour({ workDir: work, keep: true });
    const dir = `${work}/target`;
    if (restore) await Deno.mkdir(dir); // empty: --backend-dir restores the snapshot into it
    else await copyTree(TREE, dir); // the snapshot's tree already: --backend-dir verifies it
    const socket = `${work}/fs.sock`;
    child.p = startBackend(kind, socket, dir, xattr);
    const { input } = await runReplay(`${work}/session.pcapng`, {
      target: `vhost-user:${socket}`,
      backendDir: dir,
      concurrency: String(concurrency),
    });
    assert.match(
      input.notes!.join("\n"),
      restore ? /restored snapshot .* into .*target/ : /target matches snapshot/,
    );
    assert.match(
      input.notes!.join("\n"),
      /compared with the recorded .*session\.pcapng\.final\.json/,
    );
    return input;
  } finally {
    try {
      child.p?.kill("SIGTERM");
    } catch {
      // virtiofsd leaves after its one front-end
    }
    await child.p?.status;
    await Deno.remove(work, { recursive: true });
  }
}

const XATTR_OFF = [
  // both back-ends serve no extended attributes unless asked (virtiofsd -o xattr, ringside serve --xattr)
  'SETXATTR name="user.ringside" size=4 error OK→ENOSYS',
  'GETXATTR name="user.ringside" size=64 error OK→ENOSYS',
  "LISTXATTR size=256 error OK→ENOSYS",
];

for (const kind of ["virtiofsd", "ringside"] as const) {
  peerTest(
    `replay through the front-end into ${kind}: completes; only the xattr ENOSYS divergences without xattr support`,
    {
      needs: ["virtiofsd"],
    },
    async () => {
      const input = await replayThrough(kind, false, 1, false);
      const seen = input.report.divergences.map((d) =>
        `${d.op} ${d.args} ${d.field} ${d.expected}→${d.actual}`
      );
      assert.deepEqual(seen, XATTR_OFF);
      assert.equal(input.report.missing, 0);
      // the SETXATTR that failed with ENOSYS leaves the one final-state difference it explains
      assert.deepEqual(input.final, [{
        path: "notes/out.txt",
        field: "xattrs",
        expected: '{"user.ringside":"ZGVtbw=="}',
        actual: "{}",
      }]);
    },
  );

  peerTest(
    `replay through the front-end into ${kind} with xattrs on, 4 in flight, snapshot restored by --backend-dir: zero divergences`,
    {
      needs: ["virtiofsd"],
    },
    async () => {
      const input = await replayThrough(kind, true, 4, true);
      assert.deepEqual(input.report.divergences, []);
      assert.equal(input.report.missing, 0);
      assert.deepEqual(input.final, []);
    },
  );
}

// no outside peer: ringside serve and the front-end meet over a Unix socket and memfd memory
Deno.test(
  "ringside serve --record --snapshot under a replay: its final state is written at stop, and the new recording diffs and replays equivalent",
  async () => {
    const work = await Deno.makeTempDir({ prefix: "ringside-serve-record-" });
    try {
      await runTour({ workDir: work, keep: true });
      const session = `${work}/session.pcapng`;
      const dir = `${work}/target`;
      await restoreSnapshot(`${session}.snapshot`, dir);
      const socket = `${work}/fs.sock`;
      const again = `${work}/served-again.pcapng`;
      const serve = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "serve", "--socket", socket, "--shared-dir", dir, "--xattr"]
          .concat(["--cache", "never", "--record", again, "--snapshot"]),
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        for (let i = 0; i < 300; i++) {
          try {
            if (Deno.lstatSync(socket).isSocket) break;
          } catch {
            // not yet
          }
          await new Promise((r) => setTimeout(r, 50));
        }
        const { input } = await runReplay(session, {
          target: `vhost-user:${socket}`,
          backendDir: dir,
        });
        assert.deepEqual(input.report.divergences, []);
        assert.deepEqual(input.final, []);
      } finally {
        serve.kill("SIGTERM");
        assert.equal((await serve.status).code, 0);
      }
      const written = await readFinalManifest(again);
      assert.ok(
        written !== undefined && written.stale === undefined,
        "final state written at stop",
      );
      // the same session through the in-process ring and through vhost-user: one workload
      const d = await runDiff(session, again, {});
      assert.deepEqual(d.report.divergences, []);
      assert.deepEqual(d.report.missingList, []);
      assert.deepEqual(d.final, []);
      // and the new recording replays by itself: snapshot restored, final state compared
      const r = await runReplay(again, { dir: `${work}/fresh-again` });
      assert.deepEqual(r.input.report.divergences, []);
      assert.deepEqual(r.input.final, []);
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
