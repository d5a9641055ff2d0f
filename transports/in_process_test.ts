import assert from "node:assert/strict";
import { connectInProcess, type Direction } from "./in_process.ts";
import { createHelloServer, OP } from "./_test_server.ts";
import type { FuseServer } from "../engine/types.ts";

function request(opcode: number, unique: bigint, nodeid: bigint, body = new Uint8Array(0)) {
  const m = new Uint8Array(40 + body.length);
  const v = new DataView(m.buffer);
  v.setUint32(0, m.length, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, unique, true);
  v.setBigUint64(16, nodeid, true);
  m.set(body, 40);
  return m;
}

Deno.test("in-process: replies come back whole, observers see both directions in order", async () => {
  const seen: [Direction, number][] = [];
  const ch = connectInProcess(createHelloServer({ asyncRead: true }), {
    observers: [(d, m) => seen.push([d, m.length])],
  });
  const attr = await ch.request(request(OP.GETATTR, 2n, 1n, new Uint8Array(16)));
  assert.equal(attr?.length, 16 + 104);
  const readIn = new Uint8Array(40);
  new DataView(readIn.buffer).setUint32(16, 5, true);
  const read = await ch.request(request(OP.READ, 4n, 2n, readIn));
  assert.equal(new TextDecoder().decode(read!.subarray(16)), "hello");
  assert.equal(await ch.request(request(OP.FORGET, 6n, 2n, new Uint8Array(8))), null);
  assert.deepEqual(seen, [["request", 56], ["reply", 120], ["request", 80], ["reply", 21], [
    "request",
    48,
  ]]);
  assert.equal(ch.requests, 3);
});

Deno.test("in-process: malformed requests and mismatched replies are rejected", async () => {
  const ch = connectInProcess(createHelloServer());
  const bad = request(OP.GETATTR, 2n, 1n);
  new DataView(bad.buffer).setUint32(0, 99, true);
  await assert.rejects(ch.request(bad), /fuse_in_header.len says 99/);
  const liar: FuseServer = {
    handle: () => {
      const r = new Uint8Array(16);
      new DataView(r.buffer).setUint32(0, 16, true);
      new DataView(r.buffer).setBigUint64(8, 77n, true);
      return r;
    },
  };
  await assert.rejects(
    connectInProcess(liar).request(request(OP.GETATTR, 2n, 1n)),
    /reply unique 77 answers request unique 2/,
  );
});
