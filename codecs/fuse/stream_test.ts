import assert from "node:assert/strict";
import { encodeErrorReply, encodeNotification, encodeReply, encodeRequest } from "./codec.ts";
import { InitFlag, initFlagNames } from "./constants.ts";
import { FuseStream } from "./stream.ts";
import { replyBodies, requestBodies } from "./_samples.ts";

function initExchange(s: FuseStream, kernelMinor: number, serverMinor: number, flags: number) {
  const req = requestBodies(kernelMinor).INIT;
  s.request(encodeRequest(req));
  const rep = replyBodies(serverMinor).INIT!;
  return s.reply(
    encodeReply({
      ...rep,
      header: { unique: req.header.unique },
      body: { ...rep.body!, flags, flags2: 0 },
    }),
  );
}

Deno.test("pairs replies to requests by unique, in any order", () => {
  const s = new FuseStream();
  const q = requestBodies(45);
  const a = s.request(encodeRequest(q.LOOKUP));
  const b = s.request(encodeRequest(q.READ));
  assert.equal(a.kind, "request");
  assert.equal(b.kind, "request");
  assert.equal(s.pendingCount, 2);
  // READ answered first
  const rb = s.reply(encodeReply(replyBodies(45).READ!));
  assert.equal(rb.kind, "reply");
  if (rb.kind !== "reply") return;
  assert.equal(rb.message.op, "READ");
  assert.equal(rb.request?.op, "READ");
  const ra = s.reply(encodeErrorReply(q.LOOKUP.header.unique, 2));
  assert.equal(ra.kind === "reply" && ra.message.op, "LOOKUP");
  assert.equal(ra.kind === "reply" && ra.message.header.error, -2);
  assert.equal(s.pendingCount, 0);
  // a reply nobody asked for
  const stray = s.reply(encodeErrorReply(999n, 5));
  assert.equal(stray.kind === "reply" && stray.request, undefined);
  assert.equal(stray.kind === "reply" && stray.message.op, "UNKNOWN");
});

Deno.test("FORGET, BATCH_FORGET and NOTIFY_REPLY are never left pending", () => {
  const s = new FuseStream();
  const q = requestBodies(45);
  s.request(encodeRequest(q.FORGET));
  s.request(encodeRequest(q.BATCH_FORGET));
  s.request(encodeRequest(q.NOTIFY_REPLY));
  assert.equal(s.pendingCount, 0);
});

Deno.test("INTERRUPT: the interrupted request's EINTR reply clears both", () => {
  const s = new FuseStream();
  const q = requestBodies(45);
  s.request(encodeRequest(q.READ)); // unique 28
  s.request(encodeRequest(q.INTERRUPT)); // unique 69, interrupts 28
  assert.equal(s.pendingCount, 2);
  const r = s.reply(encodeErrorReply(28n, 4));
  assert.equal(r.kind, "reply");
  if (r.kind !== "reply") return;
  assert.equal(r.message.op, "READ");
  assert.equal(r.interrupted, true);
  assert.equal(s.pendingCount, 0);
});

Deno.test("INTERRUPT answered with EAGAIN pairs with the INTERRUPT itself", () => {
  const s = new FuseStream();
  const q = requestBodies(45);
  s.request(encodeRequest(q.READ));
  s.request(encodeRequest(q.INTERRUPT));
  const again = s.reply(encodeErrorReply(69n, 11));
  assert.equal(again.kind === "reply" && again.message.op, "INTERRUPT");
  assert.equal(again.kind === "reply" && again.message.header.error, -11);
  assert.equal(s.pendingCount, 1);
  const done = s.reply(encodeReply(replyBodies(45).READ!));
  assert.equal(done.kind === "reply" && done.interrupted, false);
  assert.equal(s.pendingCount, 0);
});

Deno.test("learns the minor and flags from INIT and decodes later messages with them", () => {
  const s = new FuseStream();
  const ev = initExchange(s, 45, 8, 0);
  assert.equal(ev.kind, "reply");
  assert.equal(s.minor, 8);
  // a 120-byte entry_out now decodes; a 128-byte one would not
  s.request(encodeRequest(requestBodies(8).LOOKUP, { minor: 8 }));
  const r = s.reply(encodeReply(replyBodies(8).LOOKUP!, { minor: 8 }));
  assert.equal(r.kind, "reply");
  assert.equal(r.kind === "reply" && r.message.body !== null, true);
  // SETXATTR_EXT decides the fuse_setxattr_in size
  const s2 = new FuseStream();
  initExchange(s2, 45, 45, Number(InitFlag.SETXATTR_EXT | InitFlag.ASYNC_READ));
  assert.equal(s2.minor, 45);
  assert.equal(s2.setxattrExt, true);
  assert.deepEqual(initFlagNames(s2.initFlags), ["ASYNC_READ", "SETXATTR_EXT"]);
  const x = s2.request(encodeRequest(requestBodies(45, true).SETXATTR, { setxattrExt: true }));
  assert.equal(x.kind === "request" && x.message.op, "SETXATTR");
});

Deno.test("GETXATTR size query and value replies are told apart by the request", () => {
  const s = new FuseStream();
  const q = requestBodies(45);
  s.request(encodeRequest({ ...q.GETXATTR, body: { ...q.GETXATTR.body, size: 0 } }));
  const size = s.reply(
    encodeReply({ op: "GETXATTR", header: { unique: 40n }, body: { size: 8, value: null } }),
  );
  assert.deepEqual(size.kind === "reply" && size.message.body, { size: 8, value: null });
  s.request(encodeRequest(q.GETXATTR));
  const eight = new Uint8Array(8).fill(7);
  const val = s.reply(
    encodeReply({ op: "GETXATTR", header: { unique: 40n }, body: { size: 8, value: eight } }),
  );
  assert.deepEqual(val.kind === "reply" && val.message.body, { size: 8, value: eight });
});

Deno.test("notifications, unknown opcodes and bad messages do not stop the stream", () => {
  const s = new FuseStream();
  const n = s.reply(
    encodeNotification({ op: "NOTIFY_INVAL_INODE", body: { ino: 1n, off: 0n, len: -1n } }),
  );
  assert.equal(n.kind, "notification");
  const u = s.request(
    encodeRequest({
      op: "UNKNOWN",
      header: { unique: 6n, opcode: 200 },
      body: { raw: new Uint8Array(3) },
    }),
  );
  assert.equal(u.kind === "request" && u.message.op, "UNKNOWN");
  const bad = s.push("request", new Uint8Array([1, 2, 3]));
  assert.equal(bad.kind, "invalid");
  assert.equal(bad.kind === "invalid" && bad.error.field, "fuse_in_header");
  const badReply = s.push("reply", new Uint8Array(5));
  assert.equal(badReply.kind, "invalid");
  // the unknown request is pending and its reply comes back raw
  const r = s.reply(
    encodeReply({ op: "UNKNOWN", header: { unique: 6n }, body: { raw: new Uint8Array([9]) } }),
  );
  assert.equal(r.kind === "reply" && r.request?.op, "UNKNOWN");
  assert.deepEqual(r.kind === "reply" && r.message.body, { raw: new Uint8Array([9]) });
  // and a good message after all that still pairs
  s.request(encodeRequest(requestBodies(45).OPEN));
  const o = s.reply(encodeReply(replyBodies(45).OPEN!));
  assert.equal(o.kind === "reply" && o.message.op, "OPEN");
});
