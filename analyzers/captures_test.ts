import assert from "node:assert/strict";
import { readEvents } from "./events.ts";
import { StatsAnalyzer } from "./stats.ts";
import { CheckAnalyzer, formatCheck } from "./check.ts";
import { renderReportHtml } from "./report_html.ts";

const dir = new URL("../testdata/captures/", import.meta.url);
const captures: string[] = [];
try {
  for (const e of Deno.readDirSync(dir)) {
    if (e.isFile && /\.(pcapng|pcap)$/.test(e.name)) captures.push(e.name);
  }
} catch {
  // no testdata/captures yet
}

Deno.test("analyzers: real captures in testdata/captures exist", () => {
  assert.ok(captures.length > 0, "testdata/captures holds no capture");
});

for (const name of captures.sort()) {
  Deno.test(`analyzers: stats, check and report on the real capture ${name}`, async () => {
    const stats = new StatsAnalyzer();
    const check = new CheckAnalyzer();
    const events = readEvents(new URL(name, dir));
    let frames = 0;
    for await (const ev of events) {
      frames++;
      stats.push(ev);
      check.push(ev);
    }
    const s = stats.finish(events.summary);
    const c = check.finish(events.summary);
    assert.equal(s.capture.frames, frames);
    assert.equal(s.capture.damage, undefined);
    // a recorded session starts with INIT and both sides agree on a minor
    assert.ok(s.init !== undefined, "INIT in the capture");
    assert.ok(s.init.negotiated_minor !== undefined && s.init.agreed.length > 0);
    // every request is answered, unanswered, or takes no reply (FORGET, BATCH_FORGET)
    const noReply = s.opcodes.filter((o) => o.op === "FORGET" || o.op === "BATCH_FORGET")
      .reduce((n, o) => n + o.requests, 0);
    const paired = s.opcodes.reduce((n, o) => n + o.replies, 0);
    assert.equal(paired + s.unanswered.count + noReply, s.totals.requests);
    assert.ok(s.top_files.by_ops.length > 0);
    // the recorder and the engine follow the protocol: no error-level finding
    assert.equal(c.errors, 0, formatCheck(c));
    assert.equal(c.frames, frames);
    const html = renderReportHtml(s, c, { chartJs: "" });
    assert.ok(html.includes('<canvas id="timeline">'));
  });
}
