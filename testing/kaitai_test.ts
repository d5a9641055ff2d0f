import assert from "node:assert/strict";
import { loadKsy } from "./kaitai.ts";

const KSY = `
meta:
  id: tiny_msg
  endian: le
seq:
  - id: msg_kind
    type: u2
  - id: body_len
    type: u2
  - id: body
    type: entry
    repeat: expr
    repeat-expr: body_len
instances:
  doubled:
    value: msg_kind * 2
types:
  entry:
    seq:
      - id: entry_value
        type: u4
`;

Deno.test("loadKsy compiles a .ksy and parses with snake_case names, nested types and instances", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tiny_msg.ksy`, KSY);
    const parse = await loadKsy(`${dir}/tiny_msg.ksy`);
    const bytes = new Uint8Array([7, 0, 2, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    assert.deepEqual(parse(bytes), {
      msg_kind: 7,
      body_len: 2,
      body: [{ entry_value: 1 }, { entry_value: 0xffffffff }],
      doubled: 14,
    });
    assert.deepEqual(parse(new Uint8Array([5, 0, 0, 0]), "entry"), { entry_value: 5 });
    assert.throws(() => parse(new Uint8Array([1, 0, 5, 0])));
    assert.throws(() => parse(bytes, "nope"), /has no type nope/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
