import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
const data = (name: string) => new URL(`testdata/analyzers/${name}`, root).pathname;

async function ringside(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", "cli/main.ts", ...args],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("cli: check exits 0 on a clean capture and 1 with the finding on a bad one", async () => {
  const clean = await ringside("check", data("clean.pcapng"));
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /frames checked: no findings/);
  const bad = await ringside("check", "--json", data("handle_after_release.pcapng"));
  assert.equal(bad.code, 1);
  const report = JSON.parse(bad.stdout);
  assert.deepEqual(report.counts, { handle_after_release: 1 });
  assert.equal(report.findings[0].severity, "error");
  assert.match(bad.stderr, /^ringside: check: 1 protocol error in /);
});

Deno.test("cli: stats text and --json; missing and non-capture files are one-line errors", async () => {
  const text = await ringside("stats", data("workload.pcapng"));
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /requests never answered: 1/);
  const json = await ringside("stats", "--json", "--top", "3", data("workload.pcapng"));
  const r = JSON.parse(json.stdout);
  assert.equal(r.top_files.by_ops.length, 3);
  assert.equal(r.init.negotiated_minor, 38);
  assert.equal(typeof r.capture.start_ns, "string");
  const missing = await ringside("stats", "/nonexistent/x.pcapng");
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.trim(), "ringside: stats: /nonexistent/x.pcapng: no such file");
  const notCapture = await ringside("check", new URL("README.md", root).pathname);
  assert.equal(notCapture.code, 1);
  assert.match(
    notCapture.stderr,
    /^ringside: check: .*README\.md: not pcapng, pcap or a FUSE stream/,
  );
  const badTop = await ringside("stats", "--top", "0", data("clean.pcapng"));
  assert.equal(badTop.code, 2);
});

Deno.test("cli: report --html writes one page", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/r.html`;
    const r = await ringside("report", data("reply_to_forget.pcapng"), "--html", out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /report: wrote .*r\.html .*check found 1 protocol error/);
    const html = await Deno.readTextFile(out);
    assert.match(html, /reply_to_forget/);
    assert.ok(html.length > 200_000, "Chart.js inlined");
    const noHtml = await ringside("report", data("clean.pcapng"));
    assert.notEqual(noHtml.code, 0);
    assert.match(noHtml.stderr, /--html/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
