import assert from "node:assert/strict";
import { parseServeArgs } from "./serve.ts";
import { UserError } from "../errors.ts";
import { VhostUserFrontend } from "../../transports/vhost_user/frontend.ts";
import { fuseCall, INIT_BODY } from "../../transports/vhost_user/_fuse_client.ts";

Deno.test("serve: flags become a plan (virtiofsd spellings accepted)", () => {
  const p = parseServeArgs({
    socketPath: "/tmp/x.sock",
    sharedDir: "/tmp",
    cache: "none",
    xattr: true,
    queues: "2",
  });
  assert.deepEqual(p, {
    transport: "vhost-user",
    socket: "/tmp/x.sock",
    sharedDir: "/tmp",
    passthrough: { cache: "never", readonly: false, xattr: true, writeback: false },
    queues: 2,
    packed: true,
    record: undefined,
    pollUs: undefined,
    readThreads: undefined,
  });
  assert.equal(parseServeArgs({ socket: "/s", sharedDir: "/tmp" }).passthrough.cache, "auto");
  assert.equal(parseServeArgs({ socket: "/s", sharedDir: "/tmp", pollUs: "0" }).pollUs, 0);
  assert.equal(parseServeArgs({ socket: "/s", sharedDir: "/tmp", pollUs: "12.5" }).pollUs, 12.5);
  assert.equal(
    parseServeArgs({ socket: "/s", sharedDir: "/tmp", readThreads: "1" }).readThreads,
    1,
  );
});

Deno.test("serve: usage mistakes are one-line errors", () => {
  const cases: [Parameters<typeof parseServeArgs>[0], RegExp, number][] = [
    [{ sharedDir: "/tmp" }, /--socket PATH is required/, 2],
    [{ socket: "/s" }, /--shared-dir DIR is required/, 2],
    [{ socket: "/s", sharedDir: "/tmp", cache: "sometimes" }, /--cache must be/, 2],
    [{ socket: "/s", sharedDir: "/tmp", queues: "0" }, /--queues/, 2],
    [{ socket: "/s", sharedDir: "/tmp", pollUs: "-1" }, /--poll-us must be/, 2],
    [{ socket: "/s", sharedDir: "/tmp", pollUs: "soon" }, /--poll-us must be/, 2],
    [{ socket: "/s", sharedDir: "/tmp", readThreads: "3" }, /--read-threads must be 1 or 2/, 2],
    [{ socket: "/s", sharedDir: "/tmp", transport: "carrier-pigeon" }, /unknown transport/, 2],
    [{ socket: "/s", sharedDir: "/nonexistent-ringside" }, /does not exist/, 1],
    [{ socket: "/s", sharedDir: "/etc/hostname" }, /is not a directory/, 1],
  ];
  for (const [flags, re, code] of cases) {
    assert.throws(() => parseServeArgs(flags), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"));
      assert.equal(e.exitCode, code);
      return true;
    });
  }
});

Deno.test("serve: a ringside serve process answers a front-end, serves the next, and stops cleanly on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringside-serve-cli-" });
  const socket = `${dir}.sock`;
  await Deno.writeTextFile(`${dir}/f`, "x");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../main.ts", import.meta.url).pathname,
      "serve",
      "--socket",
      socket,
      "--shared-dir",
      dir,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    for (let guest = 0; guest < 2; guest++) {
      const fe = await VhostUserFrontend.connect(socket, { timeoutMs: 20000 });
      const dev = await fe.setUp();
      assert.equal((await fuseCall(dev.queues[1], "INIT", 0n, INIT_BODY)).reply?.header.error, 0);
      const r = await fuseCall(dev.queues[1], "LOOKUP", 1n, { name: "f" });
      assert.equal(r.reply?.header.error, 0);
      fe.close();
    }
  } finally {
    child.kill("SIGTERM");
  }
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.match(err, /front-end 2 connected/);
  assert.match(err, /stopped after 2 front-end\(s\)/);
  assert.throws(() => Deno.statSync(socket), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});
