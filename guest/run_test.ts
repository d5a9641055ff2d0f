/**
 * Boots real guests (QEMU under TCG here, ~2 s each): virtio-fs through the C
 * virtiofsd, virtio-9p, the timeout path and an in-guest harness failure.
 */
import assert from "node:assert/strict";
import { peerTest } from "../testing/peers.ts";
import { decodeCpio, S_IFLNK } from "./cpio.ts";
import { ensureGuestImage } from "./image.ts";
import { DEFAULT_VIRTIOFSD, EXIT_HARNESS, EXIT_TIMEOUT, runGuest } from "./run.ts";
import type { GuestShare } from "./run.ts";

const GUEST: ["qemu", "guest-kernel", "busybox"] = ["qemu", "guest-kernel", "busybox"];
const dec = new TextDecoder();

/** File operations through the share; ends with a status and a line on stderr. */
const OPS = `set -e
cd /mnt
ls -1
cat hello.txt
stat -c '%s %F' hello.txt
echo written-in-guest > new.txt
cat new.txt
mkdir d
mv new.txt d/moved.txt
ln -s d/moved.txt link
readlink link
echo doomed > gone; rm gone; test ! -e gone
dd if=/dev/zero of=big bs=64k count=16 2>/dev/null
sync
stat -c %s big
echo to-stderr >&2
exit 7
`;

const HELLO = "host says hi\n";
const OPS_STDOUT = [
  "hello.txt",
  "host says hi",
  `${HELLO.length} regular file`,
  "written-in-guest",
  "d/moved.txt",
  "1048576",
  "",
].join("\n");

async function checkHostSide(dir: string) {
  assert.equal(await Deno.readTextFile(`${dir}/d/moved.txt`), "written-in-guest\n");
  assert.equal(await Deno.readLink(`${dir}/link`), "d/moved.txt");
  assert.equal((await Deno.stat(`${dir}/big`)).size, 1048576);
  await assert.rejects(Deno.stat(`${dir}/new.txt`), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(`${dir}/gone`), Deno.errors.NotFound);
}

async function opsThrough(share: (dir: string) => GuestShare | Promise<GuestShare>) {
  const dir = await Deno.makeTempDir({ prefix: "ringside-guest-test-" });
  try {
    await Deno.writeTextFile(`${dir}/hello.txt`, HELLO);
    const r = await runGuest({
      share: await share(dir),
      command: { shell: OPS },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 7, `${r.failure}\n${r.console}\n${r.qemuLog}\n${r.virtiofsdLog}`);
    assert.equal(dec.decode(r.stdout), OPS_STDOUT);
    assert.equal(dec.decode(r.stderr), "to-stderr\n");
    assert.ok(r.bootMs !== undefined && r.bootMs > 0 && r.bootMs <= r.wallMs);
    assert.ok(r.console.includes("===RINGSIDE-END"));
    await checkHostSide(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

peerTest(
  "guest image: PVH vmlinux, busybox applets, modules and /init",
  { needs: GUEST },
  async () => {
    const image = await ensureGuestImage();
    assert.equal(image.pvh, true, "the Debian kernel has a PVH entry");
    const entries = decodeCpio(await Deno.readFile(image.initramfs));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.ok(byPath.get("init")!.data!.length > 100);
    assert.equal(byPath.get("bin/sh")!.mode & 0o170000, S_IFLNK);
    for (const group of ["base", "virtiofs", "9p"]) {
      const list = dec.decode(byPath.get(`etc/ringside/modules-${group}`)!.data).trim().split("\n");
      assert.deepEqual(list, image.modules[group]);
      for (const ko of list) {
        // decompressed ELF objects
        assert.deepEqual([...byPath.get(`lib/modules/${ko}`)!.data!.subarray(0, 4)], [
          0x7f,
          0x45,
          0x4c,
          0x46,
        ]);
      }
    }
    assert.ok(image.modules.virtiofs.includes("virtiofs.ko"));
    assert.ok(byPath.has("bin/fsbench") && byPath.has("bin/rs-drain"));
  },
);

peerTest("guest: virtio-fs through a listening vhost-user backend (the C virtiofsd)", {
  needs: [...GUEST, "virtiofsd"],
}, async () => {
  const sockDir = await Deno.makeTempDir({ prefix: "ringside-guest-sock-" });
  const socket = `${sockDir}/vfs.sock`;
  let backend: Deno.ChildProcess | undefined;
  try {
    await opsThrough(async (dir) => {
      backend = new Deno.Command(DEFAULT_VIRTIOFSD, {
        args: [`--socket-path=${socket}`, "-o", `source=${dir}`, "-o", "cache=none"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      for (let i = 0; i < 500; i++) {
        try {
          if (Deno.statSync(socket).isSocket) break;
        } catch {
          // not yet
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return { kind: "vhost-user", socket };
    });
    // the backend saw the guest power off and disconnect: the C virtiofsd exits after one guest
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      backend!.status,
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 10_000))),
    ]);
    clearTimeout(timer);
    assert.ok(status !== undefined, "virtiofsd still running 10 s after the guest powered off");
    backend = undefined;
    assert.equal(status.code, 0);
  } finally {
    backend?.kill("SIGKILL");
    await backend?.status;
    await Deno.remove(sockDir, { recursive: true });
  }
});

peerTest("guest: virtio-9p, an added file and fsbench", { needs: GUEST }, async () => {
  await opsThrough((dir) => ({ kind: "9p", dir }));
  const dir = await Deno.makeTempDir({ prefix: "ringside-guest-test-" });
  try {
    const r = await runGuest({
      share: { kind: "9p", dir },
      files: [{
        path: "/usr/local/bin/hello-tool",
        data: "#!/bin/sh\necho tool:$1\n",
        mode: 0o755,
      }],
      command: { shell: "hello-tool arg && fsbench -d /mnt -n 30 -s 1 -b 64 -r 50 -l smoke" },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, `${r.failure}\n${dec.decode(r.stderr)}\n${r.console}`);
    const [tool, json, ...rest] = dec.decode(r.stdout).split("\n");
    assert.equal(tool, "tool:arg");
    assert.deepEqual(rest, [""]);
    const bench = JSON.parse(json);
    assert.equal(bench.label, "smoke");
    assert.equal(bench.files, 30);
    for (
      const k of ["create_per_s", "stat_per_s", "unlink_per_s", "write_mib_per_s", "read_mib_per_s"]
    ) {
      assert.ok(bench[k] > 0, k);
    }
    assert.equal(bench.caches_dropped, true);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "fsbench cleans up after itself");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

peerTest(
  "guest: a command that outlives the timeout is killed with status 124",
  { needs: GUEST },
  async () => {
    const r = await runGuest({
      share: { kind: "none" },
      command: ["sleep", "1000"],
      timeoutMs: 6_000,
    });
    assert.equal(r.code, EXIT_TIMEOUT, `${r.failure}\n${r.console}`);
    assert.equal(r.timedOut, true);
    assert.match(r.failure ?? "", /timeout/);
    assert.ok(r.console.includes("===RINGSIDE-BEGIN"), "the command had started");
  },
);

peerTest(
  "guest: a failing mount is a harness failure (125) that says why",
  { needs: GUEST },
  async () => {
    const r = await runGuest({
      share: { kind: "none" },
      mountOptions: "no_such_option",
      command: ["true"],
      timeoutMs: 120_000,
    });
    assert.equal(r.code, EXIT_HARNESS);
    assert.match(r.failure ?? "", /guest harness error: mount .*no_such_option.* failed/);
    assert.match(r.console, /Unknown parameter 'no_such_option'/);
    assert.equal(r.console.includes("===RINGSIDE-BEGIN"), false);
  },
);

peerTest(
  "guest: a missing socket or directory fails before booting",
  { needs: GUEST },
  async () => {
    const s = await runGuest({
      share: { kind: "vhost-user", socket: "/nonexistent/x.sock" },
      command: ["true"],
    });
    assert.equal(s.code, EXIT_HARNESS);
    assert.equal(s.failure, "no vhost-user socket at /nonexistent/x.sock");
    const d = await runGuest({ share: { kind: "9p", dir: "/nonexistent/dir" }, command: ["true"] });
    assert.equal(d.code, EXIT_HARNESS);
    assert.equal(d.failure, "no directory /nonexistent/dir");
    assert.equal(d.wallMs, 0);
  },
);
