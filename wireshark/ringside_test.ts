import assert from "node:assert/strict";
import { peerTest } from "../testing/peers.ts";
import { type CaptureEvent, readEvents } from "../analyzers/events.ts";

const root = new URL("../", import.meta.url).pathname;
const LUA = `${root}wireshark/ringside.lua`;
const CAPTURE_DIRS = ["testdata/captures", "testdata/pcapng"];

/** Every capture file in testdata (pcapng and pcap). */
function captures(): string[] {
  const out: string[] = [];
  for (const d of CAPTURE_DIRS) {
    try {
      for (const e of Deno.readDirSync(`${root}${d}`)) {
        if (e.isFile && /\.(pcapng|pcap)$/.test(e.name)) out.push(`${root}${d}/${e.name}`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out.sort();
}

async function tshark(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("tshark", { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(out.stderr).split("\n")
    // tshark's warning about running as root (Lua still runs: Debian's init.lua sets
    // run_user_scripts_when_superuser = true), not about the file
    .filter((l) => l.trim() !== "" && !/^Running as user "root"/.test(l))
    .join("\n");
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr };
}

async function events(path: string): Promise<CaptureEvent[]> {
  const out: CaptureEvent[] = [];
  for await (const ev of readEvents(path)) out.push(ev);
  return out;
}

peerTest("wireshark: tshark -r reads every testdata capture without complaint", {
  needs: ["tshark"],
}, async () => {
  const files = captures();
  assert.ok(files.length >= 2, `captures found: ${files.join(", ")}`);
  for (const f of files) {
    const r = await tshark(["-r", f]);
    assert.equal(r.code, 0, f);
    assert.equal(r.stderr, "", f);
    const evs = await events(f);
    assert.equal(r.stdout.trimEnd().split("\n").length, evs.length, f);
  }
});

peerTest(
  "wireshark: the Lua dissector shows opcode, unique, node id and error like ringside decode",
  {
    needs: ["tshark"],
  },
  async () => {
    for (const f of captures()) {
      const r = await tshark([
        "-2",
        "-X",
        `lua_script:${LUA}`,
        "-r",
        f,
        "-Y",
        "fuse",
        "-T",
        "fields",
        "-E",
        "occurrence=f",
        "-e",
        "frame.number",
        "-e",
        "fuse.opcode",
        "-e",
        "fuse.unique",
        "-e",
        "fuse.nodeid",
        "-e",
        "fuse.error",
        "-e",
        "fuse.request_frame",
        "-e",
        "fuse.latency_ns",
      ]);
      assert.equal(r.code, 0, f);
      assert.equal(r.stderr, "", f);
      assert.doesNotMatch(r.stdout, /Lua Error/i, f);
      const got = r.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("\t"));
      const want = (await events(f)).filter((e) =>
        e.fuse !== undefined && e.kind !== "fuse_notify" && e.error === undefined
      ).map((e) => [
        String(e.frame),
        e.kind === "fuse_reply" && e.fuse!.request_frame === undefined
          ? ""
          : String(e.fuse!.opcode),
        String(e.fuse!.unique),
        e.fuse!.nodeid === undefined ? "" : String(e.fuse!.nodeid),
        e.fuse!.error === undefined ? "" : String(e.fuse!.error),
        e.fuse!.request_frame === undefined ? "" : String(e.fuse!.request_frame),
        e.fuse!.latency_ns === undefined ? "" : String(e.fuse!.latency_ns),
      ]);
      const wanted = new Set(want.map((w) => w[0]));
      const gotNoNotify = got.filter((row) => wanted.has(row[0]));
      assert.deepEqual(gotNoNotify, want, f);
      assert.ok(want.length > 0, f);
    }
  },
);

peerTest("wireshark: -Y 'fuse.opcode == 1' selects exactly the LOOKUP frames", {
  needs: ["tshark"],
}, async () => {
  for (const f of captures()) {
    const r = await tshark([
      "-X",
      `lua_script:${LUA}`,
      "-r",
      f,
      "-Y",
      "fuse.opcode == 1",
      "-T",
      "fields",
      "-e",
      "frame.number",
    ]);
    assert.equal(r.code, 0, f);
    assert.equal(r.stderr, "", f);
    const frames = r.stdout.trimEnd().split("\n").filter((l) => l !== "").map(Number);
    const lookups = (await events(f)).filter((e) =>
      e.fuse?.opcode === 1 && e.kind !== "fuse_notify"
    ).map((e) => e.frame);
    assert.deepEqual(frames, lookups, f);
    assert.ok(lookups.length > 0, f);
  }
});

peerTest("wireshark: the Info column names the operation and the ENOENT answer", {
  needs: ["tshark"],
}, async () => {
  const f = `${root}testdata/pcapng/synthetic.pcapng`;
  const r = await tshark(["-X", `lua_script:${LUA}`, "-r", f]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /FUSE .*LOOKUP unique=2 nodeid=1 name="missing"/);
  assert.match(r.stdout, /FUSE .*LOOKUP reply unique=2 ENOENT \(1500 ns, request #11\)/);
  assert.match(r.stdout, /vhost-user .*SET_MEM_TABLE size=40/);
  assert.match(r.stdout, /ringside .*chain q1 head=0 desc=2 readable=104 writable=80/);
});
