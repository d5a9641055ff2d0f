import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import {
  decodeNotification,
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
} from "./codec.ts";
import { fuseFuzzTarget } from "./fuzz.ts";
import { replyBodies, requestBodies } from "./_samples.ts";
import type { OpName } from "./constants.ts";

function codecError(fn: () => unknown, field: string | RegExp, offset?: number): CodecError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof CodecError, `expected a CodecError, got ${caught}`);
  if (typeof field === "string") assert.equal(caught.field, field);
  else assert.match(caught.field, field);
  if (offset !== undefined) assert.equal(caught.offset, offset);
  return caught;
}

function withLen(b: Uint8Array, len = b.length): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(0, len, true);
  return b;
}

Deno.test("truncated header", () => {
  codecError(() => decodeRequest(new Uint8Array(39)), "fuse_in_header", 0);
  codecError(() => decodeReply(new Uint8Array(15)), "fuse_out_header", 0);
  codecError(() => decodeNotification(new Uint8Array(0)), "fuse_out_header", 0);
});

Deno.test("len disagreeing with the buffer", () => {
  const b = encodeRequest(requestBodies(45).LOOKUP);
  const e = codecError(
    () => decodeRequest(withLen(b.slice(), b.length + 1)),
    "fuse_in_header.len",
    0,
  );
  assert.match(e.message, /says 51 bytes, the buffer holds 50/);
  codecError(() => decodeRequest(b.subarray(0, b.length - 1)), "fuse_in_header.len", 0);
  const r = encodeReply(replyBodies(45).LOOKUP!);
  codecError(() => decodeReply(withLen(r.slice(), 3), { opcode: 1 }), "fuse_out_header.len", 0);
});

Deno.test("truncated fixed-size bodies name the struct and where it starts", () => {
  const b = encodeRequest(requestBodies(45).SETATTR);
  const cut = withLen(b.slice(0, b.length - 8));
  const e = codecError(() => decodeRequest(cut), "fuse_setattr_in", 40);
  assert.match(e.reason, /expected 88 bytes, found 80/);
  const r = encodeReply(replyBodies(45).GETATTR!);
  codecError(
    () => decodeReply(withLen(r.slice(0, 60)), { opcode: "GETATTR" }),
    "fuse_attr_out",
    16,
  );
});

Deno.test("a name without its NUL", () => {
  const b = encodeRequest(requestBodies(45).LOOKUP);
  b[b.length - 1] = 0x41; // overwrite the NUL
  codecError(() => decodeRequest(b), "name", 40);
  const r = encodeRequest(requestBodies(45).RENAME);
  r[r.length - 1] = 0x41;
  codecError(() => decodeRequest(r), "newname");
  // bytes after the name are not silently ignored
  const extra = new Uint8Array(b.length + 1);
  extra.set(encodeRequest(requestBodies(45).LOOKUP));
  codecError(() => decodeRequest(withLen(extra)), "name");
});

Deno.test("a dirent overrunning the buffer, and absurd name lengths", () => {
  const r = encodeReply(replyBodies(45).READDIR!);
  const v = new DataView(r.buffer);
  // first dirent at 16: namelen at 16 + 16
  v.setUint32(32, 4000, true);
  codecError(() => decodeReply(r, { opcode: "READDIR" }), "fuse_dirent.namelen", 32);
  v.setUint32(32, 200, true);
  const e = codecError(() => decodeReply(r, { opcode: "READDIR" }), "fuse_dirent.namelen", 32);
  assert.match(e.reason, /overruns the buffer/);
  v.setUint32(32, 0, true);
  codecError(() => decodeReply(r, { opcode: "READDIR" }), "fuse_dirent.namelen", 32);
  // a trailing fragment shorter than a dirent header
  const full = encodeReply(replyBodies(45).READDIR!);
  const tail = withLen(new Uint8Array(full.length + 8));
  tail.set(full.subarray(4), 4);
  codecError(() => decodeReply(tail, { opcode: "READDIR" }), "fuse_dirent", full.length);
});

Deno.test("absurd counts: BATCH_FORGET, REMOVEMAPPING, PRUNE, supplementary groups", () => {
  const b = encodeRequest(requestBodies(45).BATCH_FORGET);
  new DataView(b.buffer).setUint32(40, 0xffffffff, true);
  codecError(() => decodeRequest(b), "fuse_batch_forget_in.count", 40);
  const m = encodeRequest(requestBodies(45).REMOVEMAPPING);
  new DataView(m.buffer).setUint32(40, 1 << 28, true);
  codecError(() => decodeRequest(m), "fuse_removemapping_in.count", 40);
  const g = encodeRequest({
    ...requestBodies(45).MKDIR,
    extensions: [{ kind: "supp_groups", type: 32, groups: [1] }],
  });
  // nr_groups sits 8 bytes into the 16-byte extension at the end
  new DataView(g.buffer).setUint32(g.length - 8, 1000, true);
  codecError(() => decodeRequest(g), "fuse_supp_groups.nr_groups", g.length - 8);
  // total_extlen larger than the body
  const t = encodeRequest(requestBodies(45).LOOKUP);
  new DataView(t.buffer).setUint16(36, 100, true);
  codecError(() => decodeRequest(t), "fuse_in_header.total_extlen", 36);
});

Deno.test("payload sizes must match the fields that announce them", () => {
  const w = encodeRequest(requestBodies(45).WRITE);
  new DataView(w.buffer).setUint32(56, 6, true); // fuse_write_in.size
  codecError(() => decodeRequest(w), "fuse_write_in.size", 56);
  const x = encodeRequest(requestBodies(45).SETXATTR, { setxattrExt: true });
  new DataView(x.buffer).setUint32(40, 99, true);
  codecError(() => decodeRequest(x, { setxattrExt: true }), "fuse_setxattr_in.size", 40);
});

Deno.test("replies: error out of range, error with a body, unique 0", () => {
  const r = encodeReply(replyBodies(45).OPEN!);
  new DataView(r.buffer).setInt32(4, 5, true);
  codecError(() => decodeReply(r, { opcode: "OPEN" }), "fuse_out_header.error", 4);
  new DataView(r.buffer).setInt32(4, -2, true);
  codecError(() => decodeReply(r, { opcode: "OPEN" }), "fuse_out_header.len", 0);
  new DataView(r.buffer).setInt32(4, 0, true);
  new DataView(r.buffer).setBigUint64(8, 0n, true);
  codecError(() => decodeReply(r, { opcode: "OPEN" }), "fuse_out_header.unique", 8);
  // and a notification must have unique 0
  const n = encodeReply(replyBodies(45).OPEN!);
  codecError(() => decodeNotification(n), "fuse_out_header.unique", 8);
});

Deno.test("errors are CodecError, never RangeError, for every truncation of every sample", () => {
  let errors = 0;
  for (const minor of [45, 8]) {
    const all = [
      ...Object.values(requestBodies(minor)).map((r) => ({
        bytes: encodeRequest(r as Parameters<typeof encodeRequest>[0], { minor }),
        request: true,
        op: r.op,
      })),
      ...Object.values(replyBodies(minor)).map((r) => ({
        bytes: encodeReply(r as Parameters<typeof encodeReply>[0], { minor }),
        request: false,
        op: r.op,
      })),
    ];
    for (const { bytes, request, op } of all) {
      for (let cut = 0; cut < bytes.length; cut++) {
        const b = bytes.slice(0, cut);
        if (cut >= 4) withLen(b);
        try {
          if (request) decodeRequest(b, { minor });
          else decodeReply(b, { minor, opcode: op as OpName });
        } catch (e) {
          assert.ok(e instanceof CodecError, `${e}`);
          errors++;
        }
      }
    }
  }
  assert.ok(errors > 1000);
});

Deno.test("fuzz: 100,000 random and mutated inputs through every decoder", () => {
  fuseFuzzTarget.run(100_000, 20240501);
});

Deno.test("error offsets are relative to the message, also inside a bigger buffer", () => {
  const msg = encodeRequest(requestBodies(45).LOOKUP);
  msg[msg.length - 1] = 0x41; // no NUL
  const big = new Uint8Array(msg.length + 100);
  big.set(msg, 37);
  const alone = codecError(() => decodeRequest(msg), "name");
  const inside = codecError(() => decodeRequest(big.subarray(37, 37 + msg.length)), "name");
  assert.equal(inside.offset, alone.offset);
  assert.equal(inside.offset, 40);
  const r = encodeReply(replyBodies(45).READDIR!);
  new DataView(r.buffer).setUint32(32, 4000, true);
  const big2 = new Uint8Array(r.length + 9);
  big2.set(r, 9);
  codecError(
    () => decodeReply(big2.subarray(9, 9 + r.length), { opcode: "READDIR" }),
    "fuse_dirent.namelen",
    32,
  );
});
