import assert from "node:assert/strict";
import { runTour } from "./demo.ts";
import { main } from "../main.ts";

Deno.test("demo tour: the replay of the recorded ring session agrees, a changed copy is refused, forced and diffed exactly there", async () => {
  const { lines, divergences } = await runTour();
  const text = lines.join("\n");
  assert.deepEqual(divergences, [0, 3, 3]);
  assert.match(
    text,
    /recorded to session\.pcapng\n.*session\.pcapng\.snapshot\/.*\n.*session\.pcapng\.final\.json/,
  );
  assert.match(
    text,
    /initial state: restored snapshot session\.pcapng\.snapshot \(7 entries\) into fresh/,
  );
  assert.match(
    text,
    /final state: compared with the recorded session\.pcapng\.final\.json\n\s+requests: 49 {2}matched: 49 {2}diverged: 0 {2}missing: 0\n\s+final state: identical\n\s+equivalent/,
  );
  assert.match(
    text,
    /ringside: changed does not match the capture's snapshot .*\(2 differences: src\/main\.c size 66→30, src\/main\.c content /,
  );
  assert.match(text, /LOOKUP name="main.c" .*: attr.size\n\s+expected 66\n\s+actual {3}30/);
  assert.match(text, /READ .*: data\n\s+expected 66 bytes, at 0: "#include/);
  assert.match(text, /src\/main.c: content expected sha256/);
  assert.match(text, /49 requests in 49 descriptor chains/);
  // the diff of the two recordings names the same three things and the same final state
  const diff = text.slice(text.indexOf("4. record the session again"));
  assert.match(
    diff,
    /the two recorded final states compared\n\s+requests: 49 {2}matched: 47 {2}diverged: 2/,
  );
  assert.match(diff, /final state: 2 differences\n\s+src\/main\.c: size expected 66, actual 30/);
});

Deno.test("ringside replay and diff: exit status 0 only when equivalent, usage errors are one line", async () => {
  const work = await Deno.makeTempDir({ prefix: "ringside-replay-cli-" });
  try {
    const { lines } = await runTour({ workDir: work, keep: true });
    assert.ok(lines.length > 10);
    const capture = `${work}/session.pcapng`;
    const quiet = console.log;
    const quietErr = console.error;
    const out: string[] = [];
    const err: string[] = [];
    console.log = (s: string) => out.push(s);
    console.error = (s: string) => err.push(s);
    let ok: number, refused: number, bad: number, usage: number, selfDiff: number, diff: number;
    try {
      // an absent directory: the snapshot is restored, the recorded final state compared
      ok = await main(["replay", capture, "--dir", `${work}/again`, "--json"]);
      refused = await main(["replay", capture, "--dir", `${work}/changed`]);
      bad = await main(["replay", capture, "--dir", `${work}/changed`, "--force"]);
      usage = await main(["replay", capture, "--timing", "sometimes", "--dir", work]);
      selfDiff = await main(["diff", capture, capture]);
      diff = await main(["diff", capture, `${work}/second.pcapng`]);
    } finally {
      console.log = quiet;
      console.error = quietErr;
    }
    assert.equal(ok, 0);
    const json = JSON.parse(out[0]);
    assert.equal(json.equivalent, true);
    assert.equal(json.counts.matched, 49);
    assert.deepEqual(json.final, []);
    assert.equal(refused, 1);
    assert.match(err[0], /^ringside: .*changed does not match the capture's snapshot/);
    assert.equal(bad, 1);
    assert.equal(usage, 2);
    assert.equal(selfDiff, 0);
    assert.equal(diff, 1);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
