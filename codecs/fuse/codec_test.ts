import assert from "node:assert/strict";
import {
  decodeNotification,
  decodeReply,
  decodeRequest,
  encodeErrorReply,
  encodeNotification,
  encodeReply,
  encodeRequest,
  type FuseReplyInit,
} from "./codec.ts";
import { Opcode, opcodeName, type OpName } from "./constants.ts";
import { notificationSamples, replyBodies, requestBodies } from "./_samples.ts";
import { plain } from "./_samples.ts";
import type { FuseRequest } from "./types.ts";

const MINORS = [45, 38, 36, 31, 22, 12, 11, 8, 4, 3];
const ALL_OPS = Object.keys(Opcode) as OpName[];

Deno.test("every opcode has a request sample and round-trips at every minor", () => {
  for (const minor of MINORS) {
    const samples = requestBodies(minor);
    assert.equal(Object.keys(samples).length, ALL_OPS.length);
    for (const op of ALL_OPS) {
      const s = samples[op];
      const bytes = encodeRequest(s, { minor, setxattrExt: minor >= 33 });
      const d = decodeRequest(bytes, { minor, setxattrExt: minor >= 33 });
      assert.equal(d.op, op, `minor ${minor}`);
      assert.equal(d.header.opcode, Opcode[op]);
      assert.equal(d.header.len, bytes.length);
      assert.equal(d.header.unique, s.header.unique);
      assert.equal(d.header.nodeid, s.header.nodeid);
      assert.equal(d.header.pid, 4242);
      assert.deepEqual(plain(d.body), s.body, `${op} at minor ${minor}`);
      // and back to the same bytes
      assert.deepEqual(encodeRequest(d, { minor, setxattrExt: minor >= 33 }), bytes);
    }
  }
});

Deno.test("every opcode with a reply round-trips at every minor, paired with its request", () => {
  let count = 0;
  for (const minor of MINORS) {
    const reqs = requestBodies(minor);
    const reps = replyBodies(minor);
    for (const op of ALL_OPS) {
      const r = reps[op] as FuseReplyInit | undefined;
      if (r === undefined) continue;
      const request = decodeRequest(encodeRequest(reqs[op], { minor }), { minor }) as FuseRequest;
      const bytes = encodeReply(r, { minor });
      const d = decodeReply(bytes, { minor, request });
      assert.equal(d.op, op);
      assert.equal(d.header.len, bytes.length);
      assert.equal(d.header.error, 0);
      assert.deepEqual(plain(d.body), r.body, `${op} reply at minor ${minor}`);
      assert.deepEqual(encodeReply(d, { minor }), bytes);
      // decoding by opcode number alone gives the same for everything but the xattr size form
      if (op !== "GETXATTR" && op !== "LISTXATTR") {
        assert.deepEqual(plain(decodeReply(bytes, { minor, opcode: Opcode[op] }).body), r.body);
      }
      count++;
    }
  }
  // all opcodes but FORGET, BATCH_FORGET, NOTIFY_REPLY and INTERRUPT have a reply sample
  assert.equal(count, MINORS.length * (ALL_OPS.length - 4));
});

Deno.test("sizes follow the negotiated minor", () => {
  const size = (op: OpName, minor: number) =>
    encodeReply(replyBodies(minor)[op] as FuseReplyInit, { minor }).length - 16;
  assert.equal(size("LOOKUP", 45), 128);
  assert.equal(size("LOOKUP", 8), 120);
  assert.equal(size("GETATTR", 9), 104);
  assert.equal(size("GETATTR", 8), 96);
  assert.equal(size("CREATE", 8), 136);
  assert.equal(size("STATFS", 4), 80);
  assert.equal(size("STATFS", 3), 48);
  assert.equal(size("INIT", 45), 64);
  assert.equal(size("INIT", 23), 64);
  assert.equal(size("INIT", 22), 24);
  assert.equal(size("INIT", 4), 8);
  const rsize = (op: OpName, minor: number, setxattrExt = false) =>
    encodeRequest(requestBodies(minor, setxattrExt)[op], { minor, setxattrExt }).length - 40;
  assert.equal(rsize("WRITE", 9), 40 + 5);
  assert.equal(rsize("WRITE", 8), 24 + 5);
  assert.equal(rsize("MKNOD", 12), 16 + 5);
  assert.equal(rsize("MKNOD", 11), 8 + 5);
  assert.equal(rsize("CREATE", 11), 8 + 8);
  assert.equal(rsize("INIT", 36), 64);
  assert.equal(rsize("INIT", 35), 16);
  assert.equal(rsize("SETXATTR", 45, true), 16 + 7 + 3);
  assert.equal(rsize("SETXATTR", 45, false), 8 + 7 + 3);
});

Deno.test("error replies are header-only and keep the request's opcode", () => {
  const bytes = encodeErrorReply(9n, 2);
  assert.equal(bytes.length, 16);
  const d = decodeReply(bytes, { opcode: "LOOKUP" });
  assert.deepEqual(plain(d), {
    op: "LOOKUP",
    header: { len: 16, error: -2, unique: 9n },
    body: null,
  });
  // a negative errno is taken as already negated
  assert.equal(decodeReply(encodeErrorReply(9n, -13)).header.error, -13);
  // encodeReply with an error ignores the body
  const viaReply = encodeReply({
    op: "GETATTR",
    header: { unique: 9n, error: -2 },
    body: null,
  });
  assert.deepEqual(viaReply, bytes);
});

Deno.test("a reply without a known request decodes as UNKNOWN with its raw body", () => {
  const bytes = encodeReply(replyBodies(45).WRITE!);
  const d = decodeReply(bytes);
  assert.equal(d.op, "UNKNOWN");
  assert.deepEqual(plain(d.body), { raw: bytes.subarray(16) });
});

Deno.test("unknown opcodes decode with their raw body and re-encode to the same bytes", () => {
  const raw = new Uint8Array([1, 2, 3, 4, 5]);
  const bytes = encodeRequest({
    op: "UNKNOWN",
    header: { unique: 2n, opcode: 77, nodeid: 1n },
    body: { raw },
  });
  const d = decodeRequest(bytes);
  assert.equal(d.op, "UNKNOWN");
  assert.equal(d.header.opcode, 77);
  assert.equal(opcodeName(77), "OPCODE_77");
  assert.deepEqual(plain(d.body), { raw });
  assert.deepEqual(encodeRequest(d as Parameters<typeof encodeRequest>[0]), bytes);
});

Deno.test("payloads are views into the decoded buffer, not copies", () => {
  const bytes = encodeRequest(requestBodies(45).WRITE);
  const d = decodeRequest(bytes);
  assert.equal(d.op, "WRITE");
  if (d.op !== "WRITE") return;
  assert.equal(d.body.data.buffer, bytes.buffer);
  assert.equal(d.body.data.byteOffset, bytes.byteOffset + 80);
  const rbytes = encodeReply(replyBodies(45).READ!);
  const r = decodeReply(rbytes, { opcode: "READ" });
  assert.equal(r.op === "READ" && r.body?.data.buffer, rbytes.buffer);
});

Deno.test("decoding works on a subarray at an odd offset of a bigger buffer", () => {
  const msg = encodeRequest(requestBodies(45).SETATTR);
  const big = new Uint8Array(msg.length + 7);
  big.set(msg, 3);
  const d = decodeRequest(big.subarray(3, 3 + msg.length));
  assert.deepEqual(plain(d.body), requestBodies(45).SETATTR.body);
});

Deno.test("every notification round-trips", () => {
  for (const s of notificationSamples()) {
    const bytes = encodeNotification(s);
    const d = decodeNotification(bytes);
    assert.equal(d.op, s.op);
    assert.equal(d.header.unique, 0n);
    assert.deepEqual(plain(d.body), s.body);
    assert.deepEqual(encodeNotification(d as Parameters<typeof encodeNotification>[0]), bytes);
  }
  // an unknown notify code keeps its raw body
  const unknown = encodeNotification({
    op: "NOTIFY_UNKNOWN",
    header: { error: 42 },
    body: { raw: new Uint8Array([1]) },
  });
  const d = decodeNotification(unknown);
  assert.equal(d.op, "NOTIFY_UNKNOWN");
  assert.equal(d.header.error, 42);
});

Deno.test("request extensions: security context and supplementary groups round-trip", () => {
  const msg = {
    ...requestBodies(45).MKDIR,
    extensions: [
      {
        kind: "security_context" as const,
        type: 1,
        contexts: [{ name: "security.selinux", context: new TextEncoder().encode("u:r:t:s0\0") }],
      },
      { kind: "supp_groups" as const, type: 32 as const, groups: [27, 1001] },
    ],
  };
  const bytes = encodeRequest(msg);
  const d = decodeRequest(bytes);
  assert.equal(d.header.total_extlen * 8, 48 + 24);
  assert.deepEqual(plain(d.body), msg.body);
  assert.deepEqual(plain(d.extensions), msg.extensions);
  assert.deepEqual(encodeRequest(d as typeof msg), bytes);
});
