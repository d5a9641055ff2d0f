import assert from "node:assert/strict";
import { peerTest } from "../../testing/peers.ts";
import { encodeRecordPrefix, recordDirection, type RecordKind } from "./record.ts";
import { PcapngWriter } from "./writer.ts";

async function tshark(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("tshark", { args, stdout: "piped", stderr: "piped" })
    .output();
  const stderr = new TextDecoder().decode(out.stderr).split("\n")
    // tshark's own warning about root, not about the file
    .filter((l) => l.trim() !== "" && !/^Running as user "root"/.test(l))
    .join("\n");
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr };
}

interface Written {
  iface: number;
  ts: bigint;
  len: number;
  dir: string;
}

/** Writes a capture with `n` packets over four channels; returns what was written. */
function capture(n: number, sink: (c: Uint8Array) => void): Written[] {
  const w = new PcapngWriter(sink, { userappl: "ringside tshark test", os: "Linux" });
  const names = ["vhost-user", "vq0", "vq1", "/dev/fuse"];
  for (const name of names) w.addInterface({ name, description: `channel ${name}` });
  const kinds: RecordKind[] = [
    "fuse_request",
    "fuse_reply",
    "ring_kick",
    "vhost_user_back_to_front",
  ];
  const out: Written[] = [];
  let ts = 1_700_000_000_000_000_001n;
  for (let i = 0; i < n; i++) {
    const kind = kinds[i % kinds.length];
    const payload = new Uint8Array((i * 37) % 300);
    const prefix = encodeRecordPrefix({ kind, queue: i % 3 });
    const iface = i % names.length;
    ts += BigInt(1 + i * 997);
    w.writePacket(iface, {
      timestampNs: ts,
      data: [prefix, payload],
      direction: recordDirection(kind),
    });
    out.push({ iface, ts, len: prefix.length + payload.length, dir: recordDirection(kind) });
  }
  return out;
}

function epoch(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}`;
}

peerTest("tshark reads a written capture without complaint; times, lengths, interfaces match", {
  needs: ["tshark"],
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const chunks: Uint8Array[] = [];
    const written = capture(40, (c) => chunks.push(c));
    const file = `${dir}/c.pcapng`;
    await Deno.writeFile(file, new Uint8Array(chunks.flatMap((c) => [...c])));
    const plain = await tshark(["-r", file]);
    assert.equal(plain.code, 0);
    assert.equal(plain.stderr, "");
    assert.equal(plain.stdout.trim().split("\n").length, written.length);
    assert.match(plain.stdout, /Exported PDU/);
    const fields = await tshark([
      "-r",
      file,
      "-T",
      "fields",
      "-e",
      "frame.number",
      "-e",
      "frame.time_epoch",
      "-e",
      "frame.len",
      "-e",
      "frame.interface_id",
      "-e",
      "frame.interface_name",
      "-e",
      "frame.packet_flags_direction",
      "-e",
      "exported_pdu.prot_name",
    ]);
    assert.equal(fields.code, 0);
    assert.equal(fields.stderr, "");
    const rows = fields.stdout.trim().split("\n").map((l) => l.split("\t"));
    assert.equal(rows.length, written.length);
    const names = ["vhost-user", "vq0", "vq1", "/dev/fuse"];
    rows.forEach((r, i) => {
      const w = written[i];
      assert.equal(r[0], String(i + 1));
      assert.equal(r[1], epoch(w.ts));
      assert.equal(Number(r[2]), w.len);
      assert.equal(Number(r[3]), w.iface);
      assert.equal(r[4], names[w.iface]);
      assert.equal(Number(r[5]), w.dir === "inbound" ? 1 : 2);
      assert.equal(r[6], "ringside");
    });
    assert.equal(new Set(rows.map((r) => r[3])).size, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

peerTest(
  "a capture cut off mid-block (as by SIGKILL) still opens in tshark up to the last whole block",
  {
    needs: ["tshark"],
  },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const chunks: Uint8Array[] = [];
      const written = capture(10, (c) => chunks.push(c));
      // the writer emits whole blocks: drop the last packet block's second half
      const bytes = chunks.flatMap((c) => [...c]);
      const last = chunks[chunks.length - 1];
      const cut = bytes.length - Math.floor(last.length / 2);
      const file = `${dir}/cut.pcapng`;
      await Deno.writeFile(file, new Uint8Array(bytes.slice(0, cut)));
      const r = await tshark(["-r", file, "-T", "fields", "-e", "frame.number"]);
      assert.equal(r.stdout.trim().split("\n").length, written.length - 1);
      assert.match(r.stderr, /cut short/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

peerTest("tshark reads every capture in testdata/pcapng without complaint", {
  needs: ["tshark"],
}, async () => {
  const dir = new URL("../../testdata/pcapng/", import.meta.url).pathname;
  let files = 0;
  for (const e of Deno.readDirSync(dir)) {
    if (!/\.(pcapng|pcap)$/.test(e.name)) continue;
    files++;
    const r = await tshark(["-r", `${dir}${e.name}`]);
    assert.equal(r.code, 0, e.name);
    assert.equal(r.stderr, "", e.name);
    assert.ok(r.stdout.trim().split("\n").length > 0, e.name);
  }
  assert.ok(files >= 1);
});
