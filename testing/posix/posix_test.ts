/**
 * The POSIX conformance suite: every case of cases.ts runs on a ringside
 * /dev/fuse mount of a fresh directory and on a plain directory of the same
 * file system, and the two records (each step's result or errno, and the
 * resulting tree) must be identical. The mount is served by its reader
 * Worker; the cases run in this thread and in two helper processes (a second
 * root process for locks, uid 65534 for permission checks).
 */
import assert from "node:assert/strict";
import { peerTest } from "../peers.ts";
import { mountDevFuse, passthroughSpec } from "../../transports/mod.ts";
import { type Actors, differences, localActor, processActor, runCase } from "./harness.ts";
import { CASES } from "./cases.ts";

/** Run one case only (its name). */
const ONLY = Deno.env.get("RINGSIDE_POSIX_CASE");
/** Write each case's two records as JSON files into this directory. */
const DUMP = Deno.env.get("RINGSIDE_POSIX_DUMP");

/**
 * Differences the engine is known to have, reported to its owners: the case
 * must show exactly these lines (so the step fails, saying so, the moment the
 * behaviour changes, fixed or not), and they are printed on every run.
 */
const KNOWN_DIVERGENCES: Record<string, { why: string; diff: string[] }> = {};

peerTest("posix conformance: ringside mount and plain directory agree", {
  needs: ["fuse"],
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const base = Deno.makeTempDirSync({ prefix: "ringside-posix-" });
  Deno.chmodSync(base, 0o755);
  const shared = `${base}/shared`;
  const mnt = `${base}/mnt`;
  const plain = `${base}/plain`;
  for (const d of [shared, mnt, plain]) {
    Deno.mkdirSync(d);
    Deno.chmodSync(d, 0o755);
  }
  const mount = await mountDevFuse(
    mnt,
    passthroughSpec(shared, { cache: "auto", xattr: true }),
    { log: (l) => console.error(`[mount] ${l}`) },
  );
  const actors: Actors = {
    me: localActor(),
    other: processActor("other"),
    nobody: processActor("nobody", { uid: 65534, gid: 65534 }),
  };
  try {
    for (const c of CASES) {
      if (ONLY && c.name !== ONLY) continue;
      await t.step(c.name, async () => {
        const onMount = await runCase(c, mnt, actors);
        const onPlain = await runCase(c, plain, actors);
        // a case whose every step failed on both would compare equal and prove nothing
        assert.ok(
          onPlain.trace.some((s) => "ret" in s.result),
          `${c.name}: no step succeeded on the plain directory`,
        );
        if (DUMP) {
          Deno.writeTextFileSync(
            `${DUMP}/${c.name}.json`,
            JSON.stringify({ onMount, onPlain }, null, 1),
          );
        }
        const diff = differences(onMount, onPlain);
        const known = KNOWN_DIVERGENCES[c.name];
        if (known) {
          console.warn(`!!! KNOWN ENGINE DIVERGENCE in ${c.name}: ${known.why}`);
          assert.deepStrictEqual(
            diff,
            known.diff,
            `${c.name} no longer shows its known divergence (fixed? update KNOWN_DIVERGENCES):\n  ${
              diff.join("\n  ")
            }`,
          );
          return;
        }
        assert.deepStrictEqual(diff, [], `${c.name} differs:\n  ${diff.join("\n  ")}`);
      });
    }
  } finally {
    for (const a of Object.values(actors)) await a.close();
    const end = await mount.unmount();
    assert.equal(end.reason, "unmounted");
    // the mount really served the cases
    if (!ONLY) assert.ok(end.requests > 20000, `only ${end.requests} FUSE requests`);
    Deno.removeSync(base, { recursive: true });
  }
});
