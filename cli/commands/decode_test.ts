import assert from "node:assert/strict";
import { encodeErrorReply, encodeRequest } from "../../codecs/fuse/mod.ts";
import { UserError } from "../errors.ts";
import { decodeCapture, formatDuration, openFlagWords, parseFilter } from "./decode.ts";

const root = new URL("../../", import.meta.url).pathname;
const SYNTHETIC = "testdata/pcapng/synthetic.pcapng";

async function ringside(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/main.ts", "decode", ...args],
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function decodeToString(
  path: string,
  format: "text" | "json" | "jsonl",
  filters: string[] = [],
) {
  let text = "";
  const r = await decodeCapture(path, { format, filters, write: (t) => (text += t) });
  return { text, ...r };
}

Deno.test("decode CLI: tcpdump-like text of the synthetic capture", async () => {
  const r = await ringside(SYNTHETIC);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 15);
  assert.match(
    lines[10],
    /^ {4}11 \d\d:\d\d:\d\d\.\d{9} \/dev\/fuse > unique 2 LOOKUP nodeid 1 name="missing"$/,
  );
  assert.match(
    lines[11],
    /\/dev\/fuse < unique 2 LOOKUP reply nodeid 1 ENOENT \(1\.5 µs, request #11\)$/,
  );
  assert.match(lines[2], /vhost-user > vhost-user SET_MEM_TABLE size 40 fds 1$/);
  assert.match(lines[5], /vq1 q1 > chain \[head 0, 2 desc, r 104 w 80\]$/);
  assert.match(r.stderr, /1 request\(s\) never answered: #14 GETATTR unique 4/);
});

Deno.test("decode CLI: --json is one array with stable keys; --jsonl one object per line", async () => {
  const j = await ringside(SYNTHETIC, "--json");
  assert.equal(j.code, 0, j.stderr);
  const frames = JSON.parse(j.stdout) as Record<string, unknown>[];
  assert.equal(frames.length, 15);
  const reply = frames[11] as { fuse: Record<string, unknown>; [k: string]: unknown };
  assert.deepEqual(Object.keys(reply).sort(), [
    "channel",
    "direction",
    "frame",
    "fuse",
    "fuse_minor",
    "interface_id",
    "kind",
    "offset",
    "time_ns",
  ]);
  assert.deepEqual(reply.fuse, {
    opcode: 1,
    op: "LOOKUP",
    unique: "2",
    len: 16,
    nodeid: "1",
    error: -2,
    error_name: "ENOENT",
    request_frame: 11,
    latency_ns: "1500",
    body: null,
  });
  const l = await ringside(SYNTHETIC, "--jsonl");
  const lines = l.stdout.trimEnd().split("\n").map((x) => JSON.parse(x));
  assert.deepEqual(lines, frames);
});

Deno.test("decode: filters by opcode, nodeid, unique, errors, kind and time", async () => {
  const count = async (...f: string[]) =>
    (await decodeToString(SYNTHETIC, "jsonl", f)).text.trimEnd().split("\n").filter((x) => x)
      .length;
  assert.equal(await count("opcode=LOOKUP"), 2); // request and its reply
  assert.equal(await count("opcode=1"), 2);
  assert.equal(await count("opcode=init,forget"), 3);
  assert.equal(await count("errors"), 1);
  assert.equal(await count("error=ENOENT"), 1);
  assert.equal(await count("error=EIO"), 0);
  assert.equal(await count("nodeid=5"), 1);
  assert.equal(await count("unique=4"), 1);
  assert.equal(await count("kind=ring_kick,ring_call"), 2);
  assert.equal(await count("channel=/dev/fuse", "opcode=LOOKUP"), 2);
  // frames are 1.5 µs apart from the first: frames 1-3 are in 0..3 µs
  assert.equal(await count("time=0..0.000003"), 3);
  assert.equal(await count("time=0.000020.."), 1);
  for (const bad of ["opcode=NOPE", "nodeid=x", "size=3", "time=3", "error=EWHAT", "lookup"]) {
    assert.throws(() => parseFilter(bad), UserError, bad);
  }
});

Deno.test("decode CLI: a truncated capture decodes up to the damage, then says where (exit 1)", async () => {
  const bytes = await Deno.readFile(`${root}${SYNTHETIC}`);
  const tmp = await Deno.makeTempFile({ suffix: ".pcapng" });
  try {
    await Deno.writeFile(tmp, bytes.subarray(0, 1800)); // inside frame 11's block (offset 1712)
    const r = await ringside(tmp);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trimEnd().split("\n").length, 10);
    assert.match(
      r.stderr,
      /ringside: decode: .*: damaged at byte 1712 after 10 good frame\(s\): enhanced_packet_block: truncated: the input ends 88 bytes/,
    );
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("decode CLI: a capture ending in preallocated zeros decodes whole, says so on stderr (exit 0)", async () => {
  const bytes = await Deno.readFile(`${root}${SYNTHETIC}`);
  const tmp = await Deno.makeTempFile({ suffix: ".pcapng" });
  try {
    const tailed = new Uint8Array(bytes.length + 3 * 4096);
    tailed.set(bytes);
    await Deno.writeFile(tmp, tailed);
    for (const format of [[], ["--jsonl"]]) {
      const r = await ringside(tmp, ...format);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trimEnd().split("\n").length, 15);
      assert.match(
        r.stderr,
        /^(ringside: 1 request.*\n)?ringside: decode: .*: the capture ends in 12288 bytes of preallocated zeros: the recording was interrupted\n$/,
      );
    }
    // data after the zeros: a hole, not an end
    tailed[bytes.length + 8192] = 0x0a;
    await Deno.writeFile(tmp, tailed);
    const r = await ringside(tmp);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trimEnd().split("\n").length, 15);
    assert.doesNotMatch(r.stderr, /preallocated/);
    assert.match(
      r.stderr,
      new RegExp(
        `ringside: decode: .*: damaged at byte ${
          bytes.length + 8192
        } after 15 good frame\\(s\\): zero_tail: byte 0x0a after 8192 zero bytes from the block boundary at ${bytes.length}`,
      ),
    );
  } finally {
    await Deno.remove(tmp);
  }
  // a capture with no tail says nothing of one
  const clean = await ringside(SYNTHETIC);
  assert.doesNotMatch(clean.stderr, /preallocated/);
});

Deno.test("decode CLI: missing file, not a capture, empty file, bad options: one line each", async () => {
  const missing = await ringside("/nonexistent/x.pcapng");
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, "ringside: decode: /nonexistent/x.pcapng: no such file\n");
  const tmp = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(tmp, "hello, this is not a capture at all, just some text\n");
    const text = await ringside(tmp);
    assert.equal(text.code, 1);
    assert.match(text.stderr, /^ringside: decode: .*: not pcapng, pcap or a FUSE stream: .*\n$/);
    await Deno.writeFile(tmp, new Uint8Array(0));
    const empty = await ringside(tmp);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /^ringside: decode: .* is empty\n$/);
  } finally {
    await Deno.remove(tmp);
  }
  const both = await ringside(SYNTHETIC, "--json", "--jsonl");
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--json and --jsonl exclude each other/);
  const badFilter = await ringside(SYNTHETIC, "-f", "opcode=NOPE");
  assert.equal(badFilter.code, 2);
  assert.match(badFilter.stderr, /'NOPE' is not a FUSE opcode/);
});

Deno.test("decode: a raw FUSE stream file", async () => {
  const tmp = await Deno.makeTempFile();
  try {
    const parts = [
      encodeRequest({
        op: "OPEN",
        header: { unique: 2n, nodeid: 5n },
        body: { flags: 0o1101, open_flags: 0 },
      }),
      encodeErrorReply(2n, 13),
    ];
    await Deno.writeFile(tmp, new Uint8Array([...parts[0], ...parts[1]]));
    const { text, summary } = await decodeToString(tmp, "text");
    assert.equal(summary.format, "fuse_stream");
    const lines = text.trimEnd().split("\n");
    assert.match(lines[0], /stream > unique 2 OPEN nodeid 5 flags=O_WRONLY\|O_CREAT\|O_TRUNC$/);
    assert.match(lines[1], /stream < unique 2 OPEN reply nodeid 5 EACCES \(0 ns, request #1\)$/);
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("decode: flag words and durations", () => {
  assert.equal(openFlagWords(0), "O_RDONLY");
  assert.equal(openFlagWords(0o2101 | 0o2000000), "O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC");
  assert.equal(openFlagWords(0o200000 | 0o100000), "O_RDONLY|O_LARGEFILE|O_DIRECTORY");
  assert.equal(formatDuration(999n), "999 ns");
  assert.equal(formatDuration(1500n), "1.5 µs");
  assert.equal(formatDuration(2_345_000n), "2.35 ms");
  assert.equal(formatDuration(3_000_000_000n), "3.000 s");
});
