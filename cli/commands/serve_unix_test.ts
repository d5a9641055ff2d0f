import assert from "node:assert/strict";
import { parseServeUnixArgs } from "./serve_unix.ts";
import { RenodeClient } from "../../transports/_renode_client.ts";
import { collectCheck, readEvents } from "../../analyzers/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test("serve --transport unix: flag errors are one-line usage errors", () => {
  assert.throws(() => parseServeUnixArgs({ sharedDir: "/" }), /serve: --socket PATH is required/);
  assert.throws(() => parseServeUnixArgs({ socket: "/tmp/x" }), /--shared-dir DIR is required/);
  assert.throws(
    () => parseServeUnixArgs({ socket: "/tmp/x", sharedDir: "/", forgetReply: "maybe" }),
    /--forget-reply must be header or none, not maybe/,
  );
  assert.throws(
    () => parseServeUnixArgs({ socket: "/tmp/x", sharedDir: "/", snapshot: true }),
    /--snapshot needs --record FILE/,
  );
  assert.deepEqual(
    parseServeUnixArgs({ socket: "/tmp/x", sharedDir: "/", record: "/tmp/c.pcapng" }).record,
    { path: "/tmp/c.pcapng", snapshot: false },
  );
  assert.throws(
    () => parseServeUnixArgs({ socket: "/tmp/x", sharedDir: "/nonexistent-ringside" }),
    /shared directory \/nonexistent-ringside does not exist/,
  );
});

Deno.test("serve --transport unix --record: a Renode-framed client reads a host file, SIGINT stops the server, the capture has the session", async () => {
  const shared = Deno.makeTempDirSync({ prefix: "ringside-shared-" });
  Deno.writeTextFileSync(`${shared}/greeting`, "hello renode\n");
  const sockDir = Deno.makeTempDirSync();
  const sock = `${sockDir}/fs.sock`;
  const capture = `${sockDir}/unix.pcapng`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "serve",
      "--transport",
      "unix",
      "--socket",
      sock,
      "--shared-dir",
      shared,
      "--record",
      capture,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let c: RenodeClient | undefined;
  for (let i = 0; i < 400 && c === undefined; i++) {
    try {
      c = await RenodeClient.connect(sock);
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  assert.ok(c, "the server never listened");
  const init = new Uint8Array(64);
  new DataView(init.buffer).setUint32(0, 7, true);
  new DataView(init.buffer).setUint32(4, 45, true);
  await c.send(c.request(26, 0n, init));
  assert.equal((await c.receive()).error, 0);
  await c.send(c.request(1, 1n, new TextEncoder().encode("greeting\0")));
  const entry = await c.receive();
  assert.equal(entry.error, 0);
  const node = new DataView(entry.body.buffer).getBigUint64(0, true);
  const open = new Uint8Array(8);
  await c.send(c.request(14, node, open));
  const opened = await c.receive();
  assert.equal(opened.error, 0);
  const fh = new DataView(opened.body.buffer).getBigUint64(0, true);
  const read = new Uint8Array(40);
  new DataView(read.buffer).setBigUint64(0, fh, true);
  new DataView(read.buffer).setUint32(16, 4096, true);
  await c.send(c.request(15, node, read));
  assert.equal(new TextDecoder().decode((await c.receive()).body), "hello renode\n");
  // FORGET: the engine has no reply, the transport sends the bare header Renode waits for
  const forget = new Uint8Array(8);
  new DataView(forget.buffer).setBigUint64(0, 1n, true);
  await c.send(c.request(2, node, forget));
  const fr = await c.receive();
  assert.deepEqual([fr.len, fr.error, fr.unique], [16, 0, c.lastUnique]);
  c.close();
  child.kill("SIGINT");
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.match(err, /stopped after 1 session/);
  assert.throws(() => Deno.lstatSync(sock), Deno.errors.NotFound);
  // the capture: every request on the "unix" channel, the four replies, nothing check objects to
  const ops: string[] = [];
  const channels = new Set<string>();
  for await (const ev of readEvents(capture)) {
    channels.add(ev.channel);
    if (ev.fuse !== undefined) ops.push(`${ev.kind === "fuse_request" ? ">" : "<"}${ev.fuse.op}`);
  }
  assert.deepEqual([...channels], ["unix"]);
  assert.deepEqual(ops, [
    ">INIT",
    "<INIT",
    ">LOOKUP",
    "<LOOKUP",
    ">OPEN",
    "<OPEN",
    ">READ",
    "<READ",
    ">FORGET",
  ]);
  const report = await collectCheck(readEvents(capture));
  assert.equal(report.errors, 0, JSON.stringify(report.findings));
  Deno.removeSync(shared, { recursive: true });
  Deno.removeSync(sockDir, { recursive: true });
});
