import assert from "node:assert/strict";
import { listenUnix } from "./unix_socket.ts";
import { createHelloServer, OP } from "./_test_server.ts";
import type { ServerSpec } from "./server_spec.ts";
import { RenodeClient } from "./_renode_client.ts";

function initBody(): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setUint32(0, 7, true);
  v.setUint32(4, 45, true);
  v.setUint32(8, 131072, true);
  return b;
}

function forgetBody(nlookup: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, nlookup, true);
  return b;
}

function readBody(offset: bigint, size: number): Uint8Array {
  const b = new Uint8Array(40);
  const v = new DataView(b.buffer);
  v.setBigUint64(8, offset, true);
  v.setUint32(16, size, true);
  return b;
}

function socketPath(): string {
  return `${Deno.makeTempDirSync({ prefix: "ringside-uds-" })}/fs.sock`;
}

Deno.test("unix socket: a Renode-framed session gets whole replies, FORGET answered by a bare header", async () => {
  const path = socketPath();
  const srv = listenUnix(path, () => createHelloServer({ content: "xyz" }));
  const c = await RenodeClient.connect(path);
  try {
    await c.send(c.request(OP.INIT, 0n, initBody()));
    const init = await c.receive();
    assert.equal(init.error, 0);
    assert.equal(init.unique, c.lastUnique);
    assert.equal(init.len, 16 + 64);
    assert.equal(new DataView(init.body.buffer).getUint32(0, true), 7);

    await c.send(c.request(OP.LOOKUP, 1n, new TextEncoder().encode("hello\0")));
    const entry = await c.receive();
    assert.equal(entry.error, 0);
    assert.equal(new DataView(entry.body.buffer).getBigUint64(0, true), 2n);

    await c.send(c.request(OP.READ, 2n, readBody(1n, 100)));
    const read = await c.receive();
    assert.equal(new TextDecoder().decode(read.body), "yz");

    // Renode blocks on a reply header after every chain, FORGET included
    await c.send(c.request(OP.FORGET, 2n, forgetBody(1n)));
    const forget = await c.receive();
    assert.deepEqual(
      { len: forget.len, error: forget.error, unique: forget.unique },
      { len: 16, error: 0, unique: c.lastUnique },
    );
    const batch = new Uint8Array(8 + 16);
    new DataView(batch.buffer).setUint32(0, 1, true);
    new DataView(batch.buffer).setBigUint64(8, 2n, true);
    await c.send(c.request(OP.BATCH_FORGET, 0n, batch));
    const bf = await c.receive();
    assert.equal(bf.len, 16);
    assert.equal(bf.unique, c.lastUnique);

    await c.send(c.request(OP.LOOKUP, 1n, new TextEncoder().encode("nope\0")));
    const missing = await c.receive();
    assert.equal(missing.error, -2);
    assert.equal(missing.len, 16);
  } finally {
    c.close();
    await srv.close();
  }
  assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
});

Deno.test("unix socket: forgetReply none sends nothing for FORGET, as the FUSE protocol says", async () => {
  const path = socketPath();
  const srv = listenUnix(path, () => createHelloServer(), { forgetReply: "none" });
  const c = await RenodeClient.connect(path);
  try {
    await c.send(c.request(OP.INIT, 0n, initBody()));
    await c.receive();
    await c.send(c.request(OP.FORGET, 2n, forgetBody(1n)));
    await c.send(c.request(OP.GETATTR, 1n, new Uint8Array(16)));
    const next = await c.receive();
    // the first bytes after FORGET are the GETATTR reply
    assert.equal(next.unique, c.lastUnique);
    assert.equal(next.len, 16 + 104);
  } finally {
    c.close();
    await srv.close();
  }
});

Deno.test("unix socket: clients are served one after another, each with a new session", async () => {
  const path = socketPath();
  let built = 0;
  const srv = listenUnix(path, () => {
    built++;
    return createHelloServer({ content: `session ${built}` });
  }, { maxSessions: 2 });
  for (const expected of ["session 1", "session 2"]) {
    const c = await RenodeClient.connect(path);
    await c.send(c.request(OP.INIT, 0n, initBody()));
    await c.receive();
    await c.send(c.request(OP.READ, 2n, readBody(0n, 64)));
    assert.equal(new TextDecoder().decode((await c.receive()).body), expected);
    c.close();
  }
  await srv.finished;
  assert.equal(srv.sessions, 2);
  assert.equal(built, 2);
});

Deno.test("unix socket: a pending reply does not stop the reading of later requests", async () => {
  const path = socketPath();
  const srv = listenUnix(path, () => createHelloServer());
  const c = await RenodeClient.connect(path);
  try {
    await c.send(c.request(OP.SETLKW, 2n, new Uint8Array(56)));
    const lockUnique = c.lastUnique;
    await c.send(c.request(OP.GETATTR, 1n, new Uint8Array(16)));
    const first = await c.receive();
    assert.equal(first.unique, c.lastUnique);
    const second = await c.receive();
    assert.equal(second.unique, lockUnique);
    assert.equal(second.error, 0);
  } finally {
    c.close();
    await srv.close();
  }
});

Deno.test("unix socket: a request with an impossible len ends that session only", async () => {
  const path = socketPath();
  const logs: string[] = [];
  const srv = listenUnix(path, () => createHelloServer(), { log: (l) => logs.push(l) });
  const bad = await Deno.connect({ transport: "unix", path });
  const header = new Uint8Array(40);
  new DataView(header.buffer).setUint32(0, 12, true);
  await bad.write(header);
  assert.equal(await bad.read(new Uint8Array(16)), null, "the server closes the connection");
  bad.close();
  const c = await RenodeClient.connect(path);
  await c.send(c.request(OP.GETATTR, 1n, new Uint8Array(16)));
  assert.equal((await c.receive()).error, 0);
  c.close();
  await srv.close();
  assert.ok(logs.some((l) => l.includes("has len 12")), logs.join("\n"));
});

Deno.test("unix socket: a server built from a spec, and a stale socket file replaced", async () => {
  const path = socketPath();
  const spec: ServerSpec = {
    module: new URL("./_test_server.ts", import.meta.url).href,
    factory: "createHelloServer",
    args: [{ content: "spec" }],
  };
  const first = listenUnix(path, spec);
  await first.close();
  // leave a stale socket behind, as a killed server would
  const stale = Deno.listen({ transport: "unix", path });
  stale.close();
  const srv = listenUnix(path, spec);
  const c = await RenodeClient.connect(path);
  await c.send(c.request(OP.READ, 2n, readBody(0n, 10)));
  assert.equal(new TextDecoder().decode((await c.receive()).body), "spec");
  c.close();
  await srv.close();
  Deno.writeTextFileSync(path, "not a socket");
  assert.throws(() => listenUnix(path, spec), /is not a socket/);
});
