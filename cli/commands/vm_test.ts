import assert from "node:assert/strict";
import { main } from "../main.ts";
import { parseVmArgs } from "./vm.ts";
import { UserError } from "../errors.ts";
import { peerTest } from "../../testing/peers.ts";

Deno.test("vm: flags become a plan", () => {
  const p = parseVmArgs({ virtiofsd: "/d", cache: "none", smp: "2", timeout: "1.5", mem: "512M" }, [
    "ls",
    "-la",
  ]);
  assert.deepEqual(p.share, { kind: "virtiofsd", dir: "/d", cache: "none" });
  assert.deepEqual(p.command, ["ls", "-la"]);
  assert.equal(p.smp, 2);
  assert.equal(p.timeoutMs, 1500);
  assert.equal(p.mem, "512M");
  const q = parseVmArgs({ "9p": "/x", c: "echo hi", tag: "t" }, []);
  assert.deepEqual(q.share, { kind: "9p", dir: "/x" });
  assert.deepEqual(q.command, { shell: "echo hi" });
  assert.equal(q.tag, "t");
  assert.equal(q.timeoutMs, 300_000);
  assert.deepEqual(parseVmArgs({ vhostUser: "/s" }, ["true"]).share, {
    kind: "vhost-user",
    socket: "/s",
  });
});

Deno.test("vm: usage mistakes are exit status 2 with one line", () => {
  const cases: [Parameters<typeof parseVmArgs>[0], string[], RegExp][] = [
    [{}, ["true"], /exactly one of --vhost-user/],
    [{ none: true, "9p": "/x" }, ["true"], /exactly one of/],
    [{ none: true }, [], /either a command/],
    [{ none: true, c: "true" }, ["true"], /either a command/],
    [{ none: true, cache: "none" }, ["true"], /--cache applies to --virtiofsd only/],
    [{ virtiofsd: "/d", cache: "sometimes" }, ["true"], /--cache must be auto, always or none/],
    [{ none: true, smp: "0" }, ["true"], /--smp/],
    [{ none: true, timeout: "-1" }, ["true"], /--timeout/],
    [{ none: true, mem: "lots" }, ["true"], /--mem/],
  ];
  for (const [flags, operands, re] of cases) {
    assert.throws(
      () => parseVmArgs(flags, operands),
      (e: unknown) => e instanceof UserError && e.exitCode === 2 && re.test(e.message),
      JSON.stringify(flags),
    );
  }
});

Deno.test("vm: the CLI returns 2 for usage errors without booting", async () => {
  const err = console.error;
  const lines: string[] = [];
  console.error = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    assert.equal(await main(["vm", "--none"]), 2);
    assert.equal(await main(["vm", "--none", "--9p", "/tmp", "--", "ls"]), 2);
    assert.equal(await main(["vm", "--none", "--smp", "x", "--", "ls"]), 2);
  } finally {
    console.error = err;
  }
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^ringside: vm: give either a command/);
});

peerTest("vm: byte-exact stdout and stderr and the exit status, through the CLI and virtiofsd", {
  needs: ["qemu", "guest-kernel", "busybox", "virtiofsd"],
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringside-vm-test-" });
  try {
    // every byte value, including \0, \r and \n, which a tty would mangle
    const blob = new Uint8Array(65536);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 7919 + (i >> 8)) & 0xff;
    await Deno.writeFile(`${dir}/blob`, blob);
    const consoleFile = `${dir}/console.log`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../main.ts", import.meta.url).pathname,
        "vm",
        "--virtiofsd",
        dir,
        "--console",
        consoleFile,
        "-c",
        "cat /mnt/blob; printf 'e\\000rr\\r\\n' >&2; exit 3",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 3, new TextDecoder().decode(out.stderr));
    assert.equal(out.stdout.length, blob.length);
    assert.deepEqual(out.stdout, blob);
    assert.deepEqual([...out.stderr], [0x65, 0, 0x72, 0x72, 0x0d, 0x0a]);
    assert.match(await Deno.readTextFile(consoleFile), /===RINGSIDE-END [0-9a-f]+ rc=3 /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
