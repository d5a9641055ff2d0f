import assert from "node:assert/strict";
import { CheckAnalyzer, collectCheck, FINDING_CODES, formatCheck } from "./check.ts";
import { readEvents } from "./events.ts";
import {
  cleanFixture,
  type Fixture,
  twoGuestsCapture,
  twoGuestsFixture,
  violationFixtures,
  workloadFixture,
} from "./_fixtures.ts";

async function check(bytes: Uint8Array) {
  const events = readEvents([bytes]);
  return await collectCheck(events, { summary: events.summary });
}

Deno.test("check: the clean capture has no findings", async () => {
  const r = await check(cleanFixture().bytes);
  assert.deepEqual(r.findings, []);
  assert.equal(r.errors + r.warnings, 0);
  assert.match(formatCheck(r), /no findings$/);
});

Deno.test("check: the workload capture (leaks, a hang) has no protocol violation", async () => {
  const r = await check(workloadFixture().bytes);
  assert.deepEqual(r.findings, []);
});

Deno.test("check: every finding code has a fixture, and each fixture shows exactly its violation once", async () => {
  const fixtures: Fixture[] = violationFixtures();
  const covered = new Set(fixtures.map((f) => Object.keys(f.expect.findings)[0]));
  for (const code of Object.keys(FINDING_CODES)) {
    if (code === "decode_error") continue; // tested below with a damaged message
    assert.ok(covered.has(code), `no fixture for ${code}`);
  }
  for (const f of fixtures) {
    const r = await check(f.bytes);
    assert.deepEqual(r.counts, f.expect.findings, `${f.name}: ${formatCheck(r)}`);
    assert.equal(r.findings.length, 1, f.name);
    const finding = r.findings[0];
    assert.deepEqual(finding.frames, f.expect.frames, `${f.name}: frames`);
    assert.equal(finding.severity, FINDING_CODES[finding.code]);
    assert.ok(finding.message.length > 20);
    if (finding.severity === "error") assert.equal(r.errors, 1);
  }
});

Deno.test("check: a request that does not decode is a decode_error warning, nothing else", async () => {
  const { SessionBuilder } = await import("./_fixtures.ts");
  const b = new SessionBuilder("damaged message");
  b.setup();
  b.init();
  // a LOOKUP whose name has no NUL terminator
  const bad = new Uint8Array(44);
  const v = new DataView(bad.buffer);
  v.setUint32(0, 44, true);
  v.setUint32(4, 1, true);
  v.setBigUint64(8, 99n, true);
  v.setBigUint64(16, 1n, true);
  bad.set([0x61, 0x62, 0x63, 0x64], 40);
  const frame = b.record(2, { kind: "fuse_request", queue: 1, fuseMinor: 38 }, bad);
  const r = await check(b.finish());
  assert.deepEqual(r.counts, { decode_error: 1 });
  assert.deepEqual(r.findings[0].frames, [frame]);
  assert.equal(r.findings[0].severity, "warning");
  assert.equal(r.errors, 0);
});

Deno.test("check: findings past maxFindings are counted, not listed", async () => {
  const c = new CheckAnalyzer({ maxFindings: 2 });
  const events = readEvents([violationFixtures()[0].bytes]);
  for await (const ev of events) {
    c.push(ev);
    // the same stray reply three more times
    if (ev.kind === "fuse_reply" && ev.fuse?.request_frame === undefined) {
      const frame = ev.frame;
      for (let i = 0; i < 3; i++) {
        ev.frame = frame + 1000 + i;
        c.push(ev);
      }
      ev.frame = frame;
    }
  }
  const r = c.finish();
  assert.equal(r.findings.length, 2);
  assert.equal(r.counts.reply_without_request, 4);
  assert.equal(r.unlisted, 2);
  assert.match(formatCheck(r), /2 more findings not listed/);
});

Deno.test("check: testdata/analyzers holds exactly what the generator makes", async () => {
  for (const f of [cleanFixture(), workloadFixture(), twoGuestsFixture(), ...violationFixtures()]) {
    const path = new URL(`../testdata/analyzers/${f.name}`, import.meta.url);
    const onDisk = await Deno.readFile(path);
    assert.ok(
      onDisk.length === f.bytes.length && onDisk.every((b, i) => b === f.bytes[i]),
      `${f.name} differs from the generator: run deno run -A testdata/analyzers/make.ts`,
    );
  }
});

Deno.test("check: two guest sessions reusing uniques and node ids are clean", async () => {
  const r = await check(twoGuestsCapture());
  assert.deepEqual(r.findings, []);
});
