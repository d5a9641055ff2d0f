import assert from "node:assert/strict";
import { collectStats, formatBytes, formatNs, formatStats } from "./stats.ts";
import { readEvents } from "./events.ts";
import {
  cleanFixture,
  entry,
  SessionBuilder,
  twoGuestsCapture,
  workloadFixture,
} from "./_fixtures.ts";

async function stats(bytes: Uint8Array, options = {}) {
  const events = readEvents([bytes]);
  return await collectStats(events, { ...options, summary: events.summary });
}

Deno.test("stats: workload figures match what the generator wrote", async () => {
  const r = await stats(workloadFixture().bytes);
  const op = (name: string) => r.opcodes.find((o) => o.op === name)!;
  assert.equal(op("CREATE").requests, 160);
  assert.equal(op("MKDIR").requests, 8);
  assert.equal(op("GETATTR").requests, 50);
  assert.equal(op("FORGET").requests, 80);
  // ENOENT lookups: every 9th file in the first pass, and files 0, 63, 126 again in the second
  assert.deepEqual(op("LOOKUP").errnos, { ENOENT: 21 });
  assert.equal(r.totals.errors, 21);
  // reads came back out of order but every one paired: latency for each
  assert.equal(op("READ").latency.count, op("READ").requests);
  // the slow-disk files make READ's tail far longer than its median
  assert.ok(op("READ").latency.p99 > 10 * op("READ").latency.p50);
  assert.ok(op("READ").latency.max >= op("READ").latency.p99);
  // INIT in words
  assert.equal(r.init?.kernel, "7.38");
  assert.equal(r.init?.negotiated_minor, 38);
  assert.ok(r.init!.agreed.includes("ASYNC_READ"));
  assert.ok(r.init!.declined.includes("WRITEBACK_CACHE"));
  assert.equal(r.init!.limits.max_write, 1 << 20);
  // two handles never released: files 17 and 117 of the untar phase
  assert.equal(r.handles.open_at_end, 2);
  assert.deepEqual(r.handles.open.map((h) => h.path).sort(), [
    "/dir1/file17.txt",
    "/dir5/file117.txt",
  ]);
  // the hang: one GETXATTR never answered, waiting until the end of the capture
  assert.equal(r.unanswered.count, 1);
  const hang = r.unanswered.requests[0];
  assert.equal(hang.op, "GETXATTR");
  assert.equal(hang.path, "/dir0");
  assert.ok(hang.waited_ns > 50 * 15_000);
  // LOOKUP/FORGET balance: odd files (80) and the 8 directories are still held
  assert.equal(r.lookups.held_nodes, 88);
  assert.equal(r.lookups.held_references, 80 * 2 + 11 + 8);
  assert.equal(r.lookups.unknown_forgets, 0);
  // every 50th file is 16 times larger: those four top the by-bytes list
  assert.deepEqual(
    r.top_files.by_bytes.slice(0, 4).map((f) => f.path.replace(/^.*\//, "")).sort(),
    ["file0.txt", "file100.txt", "file150.txt", "file50.txt"],
  );
  assert.equal(r.top_files.by_ops[0].path, "/");
  // series: every request lands in a bucket; in-flight depth reached the readahead batch size
  const s = r.series;
  assert.equal(s.columns.ops.reduce((a, b) => a + b, 0), r.totals.requests);
  assert.equal(s.columns.read_bytes.reduce((a, b) => a + b, 0), r.totals.bytes_read);
  assert.ok(Math.max(...s.columns["inflight:vq1"]) >= 4);
  assert.ok(s.columns.ops.length <= 512);
  assert.deepEqual(r.overflow, { in_flight: 0, nodes: 0, handles: 0, approximate_top: false });
  const text = formatStats(r);
  assert.match(text, /INIT \(frame \d+\): kernel 7\.38, server 7\.38, using 7\.38/);
  assert.match(text, /LOOKUP +204 +21 .* ENOENT 21/);
  assert.match(
    text,
    /requests never answered: 1\n {2}frame \d+: GETXATTR unique \d+ on \/dir0 \(vq1\)/,
  );
  assert.doesNotThrow(() => JSON.stringify(r));
});

Deno.test("stats: clean session paths, balance and handles", async () => {
  const r = await stats(cleanFixture().bytes);
  assert.equal(r.handles.open_at_end, 0);
  assert.equal(r.unanswered.count, 0);
  // src (2) still held, main.c (3) forgotten
  assert.deepEqual(r.lookups.held.map((h) => [h.path, h.nlookup]), [["/src", 1]]);
  assert.equal(r.totals.bytes_read, 4096);
  assert.equal(r.totals.bytes_written, 100);
  assert.ok(r.top_files.by_bytes.some((f) => f.path === "/src/main.c" && f.value === 4196));
});

Deno.test("stats: bounded tables count what they leave out", async () => {
  const r = await stats(workloadFixture({ files: 40 }).bytes, {
    maxNodes: 10,
    maxHandles: 1,
    maxInFlight: 2,
  });
  assert.ok(r.overflow.nodes > 0);
  assert.ok(r.overflow.handles > 0);
  assert.ok(r.overflow.in_flight > 0);
  assert.match(formatStats(r), /bounded tables: \d+ requests, \d+ inodes, \d+ handles not tracked/);
});

Deno.test("stats: a capture cut short reports the damage and what came before", async () => {
  const b = new SessionBuilder("cut");
  b.setup();
  b.init();
  const bytes = b.finish();
  const events = readEvents([bytes.subarray(0, bytes.length - 10)], { onDamage: "stop" });
  const r = await collectStats(events, { summary: events.summary });
  assert.ok(r.capture.frames > 10);
  assert.match(r.capture.damage ?? "", /truncated/);
  assert.match(formatStats(r), /damage: .*truncated/);
});

Deno.test("stats: formatNs and formatBytes", () => {
  assert.equal(formatNs(850), "850 ns");
  assert.equal(formatNs(12_345), "12.3 µs");
  assert.equal(formatNs(4_560_000), "4.56 ms");
  assert.equal(formatNs(2_100_000_000), "2.10 s");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 * 1024), "3.0 MiB");
});

Deno.test("stats: paths follow RENAME, RENAME2 (exchange) and UNLINK", async () => {
  const b = new SessionBuilder("renames");
  b.setup();
  b.init();
  b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "a" } }, entry(2n, 0o40755));
  b.op({ op: "LOOKUP", nodeid: 2n, body: { name: "f" } }, entry(3n));
  b.op({ op: "LOOKUP", nodeid: 2n, body: { name: "h" } }, entry(4n));
  b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "gone" } }, entry(5n));
  b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "old" } }, entry(6n));
  b.op({ op: "LOOKUP", nodeid: 1n, body: { name: "new" } }, entry(7n));
  // mv /a/f /g
  b.op({ op: "RENAME", nodeid: 2n, body: { newdir: 1n, oldname: "f", newname: "g" } }, {});
  // renameat2(/g, /a/h, RENAME_EXCHANGE): 3 is /a/h, 4 is /g
  b.op({
    op: "RENAME2",
    nodeid: 1n,
    body: { newdir: 2n, flags: 2, padding: 0, oldname: "g", newname: "h" },
  }, {});
  // rm /gone
  b.op({ op: "UNLINK", nodeid: 1n, body: { name: "gone" } }, {});
  // mv /old /new: replaces 7
  b.op({ op: "RENAME", nodeid: 1n, body: { newdir: 1n, oldname: "old", newname: "new" } }, {});
  // a failed rename changes nothing
  b.op({ op: "RENAME", nodeid: 1n, body: { newdir: 2n, oldname: "new", newname: "x" } }, null, {
    errno: 18,
  });
  const r = await stats(b.finish());
  const paths = Object.fromEntries(r.lookups.held.map((h) => [h.nodeid, h.path]));
  assert.deepEqual(paths, {
    "2": "/a",
    "3": "/a/h",
    "4": "/g",
    "5": "/gone (deleted)",
    "6": "/new",
    "7": "/new (deleted)",
  });
});

Deno.test("stats: two guest sessions in two sections keep their own uniques and inodes", async () => {
  const r = await stats(twoGuestsCapture());
  assert.equal(r.capture.sessions, 2);
  assert.equal(r.unanswered.count, 1);
  assert.equal(r.unanswered.requests[0].op, "GETXATTR");
  assert.equal(r.unanswered.requests[0].session, 0);
  assert.equal(r.unanswered.requests[0].path, "/one");
  const held = r.lookups.held.map((h) => `${h.session} ${h.path}`).sort();
  assert.deepEqual(held, ["0 /one", "1 /two", "1 /two/in-two"]);
  const lookup = r.opcodes.find((o) => o.op === "LOOKUP")!;
  assert.equal(lookup.requests, 3);
  assert.equal(lookup.latency.count, 3);
  assert.match(formatStats(r), /\[session 1\] \/two\/in-two/);
});
