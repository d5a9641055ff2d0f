import assert from "node:assert/strict";
import { runTour } from "./demo.ts";
import { main } from "../main.ts";

Deno.test("demo tour: the replay of the recorded ring session agrees, the changed copy diverges exactly there", async () => {
  const { lines, divergences } = await runTour();
  const text = lines.join("\n");
  assert.deepEqual(divergences, [0, 3]);
  assert.match(
    text,
    /requests: 49 {2}matched: 49 {2}diverged: 0 {2}missing: 0\n\s+final state: identical\n\s+equivalent/,
  );
  assert.match(text, /LOOKUP name="main.c" .*: attr.size\n\s+expected 66\n\s+actual {3}30/);
  assert.match(text, /READ .*: data\n\s+expected 66 bytes, at 0: "#include/);
  assert.match(text, /src\/main.c: content expected sha256/);
  assert.match(text, /49 requests in 49 descriptor chains/);
});

Deno.test("ringside replay and diff: exit status 0 only when equivalent, usage errors are one line", async () => {
  const work = await Deno.makeTempDir({ prefix: "ringside-replay-cli-" });
  try {
    const { lines } = await runTour({ workDir: work, keep: true });
    assert.ok(lines.length > 10);
    const capture = `${work}/session.pcapng`;
    // the tour left served/ (recorded final state), fresh/ and changed/ (replayed)
    await Deno.remove(`${work}/fresh`, { recursive: true });
    const { copyTree } = await import("../../engine/tree_state.ts");
    await copyTree(new URL("../../testdata/demo-tree", import.meta.url).pathname, `${work}/fresh`);
    const quiet = console.log;
    const out: string[] = [];
    console.log = (s: string) => out.push(s);
    let ok: number, bad: number, usage: number, selfDiff: number;
    try {
      ok = await main([
        "replay",
        capture,
        "--dir",
        `${work}/fresh`,
        "--expect-final",
        `${work}/served`,
        "--json",
      ]);
      bad = await main([
        "replay",
        capture,
        "--dir",
        `${work}/changed`,
        "--expect-final",
        `${work}/served`,
      ]);
      usage = await main(["replay", capture, "--timing", "sometimes", "--dir", work]);
      selfDiff = await main(["diff", capture, capture]);
    } finally {
      console.log = quiet;
    }
    assert.equal(ok, 0);
    const json = JSON.parse(out[0]);
    assert.equal(json.equivalent, true);
    assert.equal(json.counts.matched, 49);
    assert.deepEqual(json.final, []);
    assert.equal(bad, 1);
    assert.equal(usage, 2);
    assert.equal(selfDiff, 0);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
