/**
 * ringside's vhost-user back-end under a real Linux guest (QEMU, the Debian
 * kernel's virtiofs driver, busybox): file operations, xattrs, a tar of 1,200
 * files checked against the host side, concurrent writers; then a second guest
 * against the same running back-end reads everything back. Two guest boots.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { peerTest } from "../../testing/peers.ts";
import { ensureGuestImage, type GuestResult, runGuest } from "../../guest/mod.ts";
import { startVhostUserBackend } from "./backend.ts";
import { recorderSpec } from "../../engine/recorder.ts";
import { collectCheck, formatCheck, readEvents } from "../../analyzers/mod.ts";
import { FrontendRequest } from "../../codecs/vhost_user/mod.ts";
import { RECORD_FLAG_PACKED } from "../../codecs/pcapng/mod.ts";

const TAR_FILES = 1200;

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

async function buildXattrTool(dir: string): Promise<Uint8Array> {
  const out = `${dir}/rs-xattr`;
  const src = new URL("./testdata/rs_xattr.c", import.meta.url).pathname;
  const r = await new Deno.Command("gcc", { args: ["-O2", "-static", "-o", out, src] }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  return await Deno.readFile(out);
}

/** Files for the tarball: 12 directories of 100 files of varied sizes and contents. */
async function makeTree(root: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < TAR_FILES; i++) {
    const dir = `d${String(i % 12).padStart(2, "0")}`;
    const name = `./${dir}/f${String(i).padStart(4, "0")}.bin`;
    const data = new Uint8Array(rand() % 3000);
    for (let j = 0; j < data.length; j++) data[j] = rand() & 0xff;
    await Deno.mkdir(`${root}/${dir}`, { recursive: true });
    await Deno.writeFile(`${root}/${name}`, data);
    files.set(name, data);
  }
  return files;
}

function lines(r: GuestResult): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of new TextDecoder().decode(r.stdout).split("\n")) {
    const i = l.indexOf(":");
    if (i > 0) out.set(l.slice(0, i), l.slice(i + 1).trim());
  }
  return out;
}

function explain(r: GuestResult, logs: string[]): string {
  return `status ${r.code} ${r.failure ?? ""}\nstdout:\n${new TextDecoder().decode(r.stdout)}\n` +
    `stderr:\n${new TextDecoder().decode(r.stderr)}\nconsole tail:\n${
      r.console.split("\n").slice(-30).join("\n")
    }\nbackend log:\n${logs.join("\n")}`;
}

const GUEST1 = `
set -e
cd /mnt
echo "ls:$(ls /mnt | sort | tr '\\n' ' ')"
echo "stat:$(stat -c '%s %a' host.txt)"
echo "cat:$(cat host.txt)"
echo "guest wrote this" > g.txt
echo "readback:$(cat g.txt)"
mkdir -p d1/d2
echo moved > d1/d2/f
mv d1/d2/f d1/renamed
echo y > gone
rm gone
ln -s g.txt sym
ln g.txt hard
echo "links:$(stat -c %h g.txt) $(readlink sym)"
chmod 640 g.txt
echo "mode:$(stat -c %a g.txt)"
head -c 100000 /dev/urandom > big
truncate -s 1234 big
echo "trunc:$(stat -c %s big)"
rs-xattr set g.txt user.ringside hello-xattr
echo "xattr:$(rs-xattr get g.txt user.ringside)"
mkdir ex
tar -xf files.tar -C ex
echo "tarcount:$(find ex -type f | wc -l)"
echo "tarsum:$(cd ex && find . -type f | sort | xargs md5sum | md5sum | cut -d' ' -f1)"
dd if=/dev/urandom of=cw1 bs=65536 count=32 2>/dev/null &
dd if=/dev/urandom of=cw2 bs=65536 count=32 2>/dev/null &
dd if=/dev/urandom of=same bs=65536 count=16 conv=notrunc 2>/dev/null &
dd if=/dev/urandom of=same bs=65536 count=16 seek=16 conv=notrunc 2>/dev/null &
wait
echo "cw:$(md5sum cw1 | cut -d' ' -f1) $(md5sum cw2 | cut -d' ' -f1) $(md5sum same | cut -d' ' -f1)"
sync
`;

const GUEST2 = `
set -e
cd /mnt
echo "readback:$(cat g.txt)"
echo "links:$(stat -c %h hard) $(readlink sym) $(cat sym)"
echo "mode:$(stat -c %a g.txt)"
echo "renamed:$(cat d1/renamed)"
echo "trunc:$(stat -c %s big)"
echo "xattr:$(rs-xattr get g.txt user.ringside)"
echo "tarcount:$(find ex -type f | wc -l)"
echo "tarsum:$(cd ex && find . -type f | sort | xargs md5sum | md5sum | cut -d' ' -f1)"
echo "cw:$(md5sum cw1 | cut -d' ' -f1) $(md5sum cw2 | cut -d' ' -f1) $(md5sum same | cut -d' ' -f1)"
rm -r ex
echo "after-rm:$(ls | sort | tr '\\n' ' ')"
`;

peerTest(
  "a real guest through ringside's back-end: file operations, xattrs, 1,200-file tar, concurrent writers; a second guest reads it all back",
  { needs: ["qemu", "guest-kernel", "busybox"] },
  async () => {
    const image = await ensureGuestImage();
    const work = await Deno.makeTempDir({ prefix: "ringside-vu-guest-" });
    const share = `${work}/share`;
    const socket = `${work}/vfs.sock`;
    await Deno.mkdir(share);
    const logs: string[] = [];
    const backend = await startVhostUserBackend(socket, share, {
      passthrough: { cache: "auto", xattr: true },
      log: (l) => logs.push(l),
    });
    try {
      const xattrTool = await buildXattrTool(work);
      await Deno.writeTextFile(`${share}/host.txt`, "made on the host\n");
      await Deno.chmod(`${share}/host.txt`, 0o604);
      const tree = await makeTree(`${work}/src`);
      const tar = await new Deno.Command("tar", {
        args: ["-cf", `${share}/files.tar`, "-C", `${work}/src`, "."],
      }).output();
      assert.equal(tar.code, 0);
      const files = [{ path: "/usr/local/bin/rs-xattr", data: xattrTool, mode: 0o755 }];

      const g1 = await runGuest({
        image,
        share: { kind: "vhost-user", socket },
        command: { shell: GUEST1 },
        files,
        timeoutMs: 240_000,
      });
      assert.equal(g1.code, 0, explain(g1, logs));
      const o1 = lines(g1);
      assert.equal(o1.get("ls"), "files.tar host.txt");
      assert.equal(o1.get("stat"), "17 604");
      assert.equal(o1.get("cat"), "made on the host");
      assert.equal(o1.get("readback"), "guest wrote this");
      assert.equal(o1.get("links"), "2 g.txt");
      assert.equal(o1.get("mode"), "640");
      assert.equal(o1.get("trunc"), "1234");
      assert.equal(o1.get("xattr"), "hello-xattr");
      assert.equal(o1.get("tarcount"), String(TAR_FILES));

      // the host side sees what the guest did
      assert.equal(await Deno.readTextFile(`${share}/g.txt`), "guest wrote this\n");
      assert.equal((await Deno.stat(`${share}/g.txt`)).mode! & 0o777, 0o640);
      assert.equal((await Deno.stat(`${share}/g.txt`)).nlink, 2);
      assert.equal(await Deno.readLink(`${share}/sym`), "g.txt");
      assert.equal(await Deno.readTextFile(`${share}/d1/renamed`), "moved\n");
      await assert.rejects(Deno.stat(`${share}/gone`), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(`${share}/d1/d2/f`), Deno.errors.NotFound);
      assert.equal((await Deno.stat(`${share}/big`)).size, 1234);
      // every extracted file equals its source, and the guest's checksums match the host's
      const sums: string[] = [];
      for (const name of [...tree.keys()].sort()) {
        const got = await Deno.readFile(`${share}/ex/${name}`);
        assert.deepEqual(got, tree.get(name), name);
        sums.push(`${md5(got)}  ${name}\n`);
      }
      const treeSum = md5(new TextEncoder().encode(sums.join("")));
      assert.equal(o1.get("tarsum"), treeSum);
      const cw = [
        md5(await Deno.readFile(`${share}/cw1`)),
        md5(await Deno.readFile(`${share}/cw2`)),
        md5(await Deno.readFile(`${share}/same`)),
      ].join(" ");
      assert.equal(o1.get("cw"), cw);
      assert.equal((await Deno.stat(`${share}/same`)).size, 32 * 65536);
      assert.equal((await Deno.stat(`${share}/cw1`)).size, 32 * 65536);

      // a second guest against the same running back-end
      const g2 = await runGuest({
        image,
        share: { kind: "vhost-user", socket },
        command: { shell: GUEST2 },
        files,
        timeoutMs: 240_000,
      });
      assert.equal(g2.code, 0, explain(g2, logs));
      const o2 = lines(g2);
      assert.equal(o2.get("readback"), "guest wrote this");
      assert.equal(o2.get("links"), "2 g.txt guest wrote this");
      assert.equal(o2.get("mode"), "640");
      assert.equal(o2.get("renamed"), "moved");
      assert.equal(o2.get("trunc"), "1234");
      assert.equal(o2.get("xattr"), "hello-xattr");
      assert.equal(o2.get("tarcount"), String(TAR_FILES));
      assert.equal(o2.get("tarsum"), treeSum);
      assert.equal(o2.get("cw"), cw);
      assert.equal(o2.get("after-rm"), "big cw1 cw2 d1 files.tar g.txt hard host.txt same sym");
      await assert.rejects(Deno.stat(`${share}/ex`), Deno.errors.NotFound);
      assert.equal(backend.connections, 2);
      assert.equal(backend.needsResetCount, 0);
    } finally {
      await backend.close();
      await Deno.remove(work, { recursive: true });
    }
  },
);

peerTest(
  "a real guest with packed virtqueues (vhost-user-fs-pci packed=on) through ringside's back-end allowed 16 inode descriptors, recorded",
  { needs: ["qemu", "guest-kernel", "busybox"] },
  async () => {
    const work = await Deno.makeTempDir({ prefix: "ringside-vu-packed-" });
    const share = `${work}/share`;
    const capture = `${work}/guest.pcapng`;
    await Deno.mkdir(share);
    const logs: string[] = [];
    const backend = await startVhostUserBackend(`${work}/vfs.sock`, share, {
      // 200 files through 16 descriptors: the engine parks and reopens inodes
      passthrough: { maxInodeFds: 16 },
      log: (l) => logs.push(l),
      record: recorderSpec(capture),
    });
    try {
      await Deno.writeTextFile(`${share}/in.txt`, "from the host\n");
      const r = await runGuest({
        share: { kind: "vhost-user", socket: `${work}/vfs.sock` },
        command: {
          shell: `set -e
cd /mnt
echo "features:$(cat /sys/bus/virtio/devices/*/features | grep -v '^0*$' | head -n 1)"
echo "in:$(cat in.txt)"
i=0; while [ $i -lt 300 ]; do echo "line $i" >> out.txt; i=$((i+1)); done
echo "lines:$(wc -l < out.txt)"
mkdir many
i=0; while [ $i -lt 200 ]; do echo "n $i" > many/f$i; i=$((i+1)); done
echo "many:$(cat many/f* | wc -l) $(ls many | wc -l)"
echo "f150:$(cat many/f150)"`,
        },
        qemuArgs: ["-global", "vhost-user-fs-pci.packed=on"],
        timeoutMs: 120_000,
      });
      assert.equal(r.code, 0, explain(r, logs));
      const o = lines(r);
      assert.equal(
        o.get("features")?.[34],
        "1",
        `VIRTIO_F_RING_PACKED negotiated: ${o.get("features")}`,
      );
      assert.equal(o.get("in"), "from the host");
      assert.equal(o.get("lines"), "300");
      assert.equal(o.get("many"), "200 200");
      assert.equal(o.get("f150"), "n 150");
      assert.equal(await Deno.readTextFile(`${share}/many/f199`), "n 199\n");
      const text = await Deno.readTextFile(`${share}/out.txt`);
      assert.equal(text.split("\n").length, 301);
      assert.equal(backend.needsResetCount, 0);
      await backend.close();
      await checkGuestCapture(capture, { packed: true });
    } finally {
      await backend.close();
      await Deno.remove(work, { recursive: true });
    }
  },
);

/**
 * What a recorded guest session must show: the control messages of the
 * set-up in order before any ring use, per-queue channels, kicks with their
 * counter, calls, chains with the used length, FUSE records with queue and
 * chain, and nothing `check` calls an error.
 */
async function checkGuestCapture(path: string, options: { packed: boolean }): Promise<void> {
  const control: string[] = [];
  const channels = new Set<string>();
  const kinds = new Map<string, number>();
  let memTableFrame = 0;
  let firstRingFrame = 0;
  let fuseWithChain = 0;
  let packedChains = 0;
  for await (const ev of readEvents(path)) {
    channels.add(ev.channel);
    kinds.set(ev.kind, (kinds.get(ev.kind) ?? 0) + 1);
    if (ev.vhost_user !== undefined && !ev.vhost_user.reply) {
      control.push(ev.vhost_user.name);
      const r = ev.vhost_user.request;
      if (r === FrontendRequest.SET_MEM_TABLE || r === FrontendRequest.ADD_MEM_REG) {
        // QEMU maps guest memory with ADD_MEM_REG when CONFIGURE_MEM_SLOTS is offered
        memTableFrame ||= ev.frame;
        assert.ok(ev.fd_count! >= 1, "the memory table carries its region fds");
      }
    }
    if (ev.queue !== undefined) firstRingFrame ||= ev.frame;
    if (ev.kind === "ring_kick") assert.equal(ev.bytes.length, 8, "the kick counter");
    if (ev.kind === "ring_chain") {
      assert.equal(ev.bytes.length, 4, "the used length");
      if (((ev.record_flags ?? 0) & RECORD_FLAG_PACKED) !== 0) packedChains++;
    }
    if (ev.kind === "fuse_request" && ev.chain !== undefined && ev.queue !== undefined) {
      fuseWithChain++;
    }
  }
  for (
    const n of [
      "SET_VRING_NUM",
      "SET_VRING_ADDR",
      "SET_VRING_BASE",
      "SET_VRING_KICK",
      "SET_VRING_CALL",
      "GET_VRING_BASE",
    ]
  ) assert.ok(control.includes(n), `${n} recorded: ${control.join(" ")}`);
  assert.ok(channels.has("vhost-user") && channels.has("vq1"), [...channels].join(" "));
  assert.ok(memTableFrame > 0 && memTableFrame < firstRingFrame, "set-up precedes ring use");
  for (const k of ["ring_kick", "ring_call", "ring_chain", "fuse_request", "fuse_reply"]) {
    assert.ok((kinds.get(k) ?? 0) > 0, `${k} records`);
  }
  assert.ok(fuseWithChain > 0);
  if (options.packed) assert.equal(packedChains, kinds.get("ring_chain"));
  const report = await collectCheck(readEvents(path));
  assert.equal(report.errors, 0, formatCheck(report));
}
