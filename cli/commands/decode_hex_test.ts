import assert from "node:assert/strict";
import { decodeHexCommand, parseHex } from "./decode_hex.ts";
import { UserError } from "../errors.ts";
import { main } from "../main.ts";
import { encodeReply, encodeRequest } from "../../codecs/fuse/mod.ts";

const LOOKUP_HEX = "2b000000 01000000 0200000000000000 0100000000000000 " +
  "e8030000 e8030000 92100000 0000 0000 616200";

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

Deno.test("decode-hex: a request, human-readable and JSON", () => {
  const text = decodeHexCommand(LOOKUP_HEX, {});
  assert.match(text, /^request LOOKUP {2}unique 2 {2}nodeid 1 {2}43 bytes$/m);
  assert.match(text, /^ {4}pid: 4242$/m);
  assert.match(text, /^ {4}name: "ab"$/m);
  const json = JSON.parse(decodeHexCommand(LOOKUP_HEX, { json: true }));
  assert.deepEqual(json.body, { name: "ab" });
  assert.equal(json.header.unique, "2");
});

Deno.test("decode-hex: replies by opcode, error names, flags in words, notifications", () => {
  const open = encodeReply({
    op: "OPEN",
    header: { unique: 8n },
    body: { fh: 1n, open_flags: 3, backing_id: 0 },
  });
  const text = decodeHexCommand(toHex(open), { reply: true, opcode: "open" });
  assert.match(text, /^reply OPEN {2}unique 8 {2}OK/m);
  assert.match(text, /open_flags: 0x3 \(FOPEN_DIRECT_IO\|FOPEN_KEEP_CACHE\)/);
  const enoent = decodeHexCommand("10000000 feffffff 0200000000000000", { reply: true });
  assert.match(enoent, /error: -2 \(ENOENT\)/);
  const raw = decodeHexCommand(toHex(open), { reply: true });
  assert.match(raw, /give --opcode/);
  const note = decodeHexCommand("18000000 01000000 0000000000000000 0300000000000000", {
    reply: true,
  });
  assert.match(note, /^notification NOTIFY_POLL/m);
  assert.match(note, /kh: 3/);
});

Deno.test("decode-hex: the minor changes sizes", () => {
  const w = encodeRequest({
    op: "WRITE",
    header: { unique: 2n, nodeid: 5n },
    body: {
      fh: 1n,
      offset: 0n,
      size: 2,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data: new Uint8Array([0x68, 0x69]),
    },
  }, { minor: 8 });
  assert.match(decodeHexCommand(toHex(w), { minor: "8" }), /data: 2 bytes 6869 {2}"hi"/);
  assert.throws(() => decodeHexCommand(toHex(w), {}), UserError);
});

Deno.test("decode-hex: bad input is one line via UserError", () => {
  assert.throws(() => parseHex("zz"), /'z' is not a hex digit/);
  assert.throws(() => parseHex("abc"), /odd number of hex digits/);
  assert.throws(
    () => decodeHexCommand("0100", {}),
    (e) =>
      e instanceof UserError &&
      /not a valid FUSE request: fuse_in_header at byte 0/.test(e.message),
  );
  assert.throws(
    () => decodeHexCommand(LOOKUP_HEX, { reply: true, opcode: "NOPE" }),
    /--opcode NOPE/,
  );
  assert.throws(() => decodeHexCommand(LOOKUP_HEX, { minor: "x" }), /--minor x/);
});

Deno.test("decode-hex through the CLI: exit codes", async () => {
  const log = console.log;
  const error = console.error;
  const out: string[] = [];
  console.log = (s: string) => out.push(s);
  console.error = (s: string) => out.push(s);
  try {
    assert.equal(await main(["decode-hex", ...LOOKUP_HEX.split(" ")]), 0);
    assert.match(out.join("\n"), /request LOOKUP/);
    out.length = 0;
    assert.equal(await main(["decode-hex", "0g"]), 2);
    assert.deepEqual(out, ["ringside: decode-hex: 'g' is not a hex digit"]);
    out.length = 0;
    assert.equal(await main(["decode-hex", "01000000"]), 1);
    assert.equal(out.length, 1);
  } finally {
    console.log = log;
    console.error = error;
  }
});
