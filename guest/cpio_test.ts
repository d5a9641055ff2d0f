import assert from "node:assert/strict";
import {
  cpioCharDevice,
  cpioDir,
  cpioFile,
  cpioSymlink,
  decodeCpio,
  encodeCpio,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
} from "./cpio.ts";

const enc = new TextEncoder();

function sample() {
  return [
    cpioDir("etc"),
    cpioFile("etc/motd", enc.encode("hello\n")),
    cpioFile("etc/empty", new Uint8Array(0)),
    cpioFile("bin/tool", Uint8Array.from({ length: 1001 }, (_, i) => i & 0xff), { perm: 0o755 }),
    cpioSymlink("bin/sh", "/bin/busybox"),
    cpioCharDevice("dev/null", { major: 1, minor: 3 }, { perm: 0o666 }),
  ];
}

Deno.test("cpio: header layout of one newc entry", () => {
  const bytes = encodeCpio([cpioFile("a", enc.encode("xyz"), { perm: 0o600 })]);
  const text = new TextDecoder().decode(bytes.subarray(0, 110));
  assert.equal(text.slice(0, 6), "070701");
  assert.equal(text.slice(14, 22), (S_IFREG | 0o600).toString(16).padStart(8, "0")); // mode
  assert.equal(text.slice(54, 62), "00000003"); // filesize
  assert.equal(text.slice(94, 102), "00000002"); // namesize: "a" + NUL
  // 110 + 2 = 112 is aligned, so the data follows at once, padded to 116
  assert.equal(new TextDecoder().decode(bytes.subarray(112, 115)), "xyz");
  assert.equal(bytes[115], 0);
  assert.equal(new TextDecoder().decode(bytes.subarray(116 + 110, 116 + 120)), "TRAILER!!!");
});

Deno.test("cpio: every archive is 4-byte aligned and round-trips", () => {
  for (let n = 0; n < 8; n++) {
    const entries = [cpioFile("x".repeat(n + 1), new Uint8Array(n * 3 + 1).fill(7))];
    const bytes = encodeCpio(entries);
    assert.equal(bytes.length % 4, 0);
    const back = decodeCpio(bytes);
    assert.equal(back.length, 1);
    assert.equal(back[0].path, entries[0].path);
    assert.deepEqual(back[0].data, entries[0].data);
  }
  const back = decodeCpio(encodeCpio(sample()));
  assert.deepEqual(back.map((e) => e.path), sample().map((e) => e.path));
  assert.equal(back[0].mode, S_IFDIR | 0o755);
  assert.equal(back[4].mode, S_IFLNK | 0o777);
  assert.equal(new TextDecoder().decode(back[4].data), "/bin/busybox");
  assert.equal(back[5].mode, S_IFCHR | 0o666);
  assert.deepEqual(back[5].rdev, { major: 1, minor: 3 });
  assert.deepEqual(back[3].data, sample()[3].data);
});

Deno.test("cpio: concatenated archives decode in order", () => {
  const a = encodeCpio([cpioFile("one", enc.encode("1"))]);
  const b = encodeCpio([cpioFile("two", enc.encode("22"))], { firstInode: 100 });
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  assert.deepEqual(decodeCpio(both).map((e) => e.path), ["one", "two"]);
});

Deno.test("cpio: bad paths and truncated input are rejected with a position", () => {
  assert.throws(() => encodeCpio([cpioFile("/abs", new Uint8Array(0))]), /bad path/);
  assert.throws(() => encodeCpio([cpioFile("", new Uint8Array(0))]), /bad path/);
  const bytes = encodeCpio([cpioFile("f", new Uint8Array(64))]);
  assert.throws(() => decodeCpio(bytes.subarray(0, 50)), /truncated header at byte 0/);
  assert.throws(() => decodeCpio(bytes.subarray(0, 140)), /truncated body of "f" at byte 112/);
  const bad = bytes.slice();
  bad[3] = 0x39;
  assert.throws(() => decodeCpio(bad), /bad magic at byte 0/);
});

const hasGnuCpio = (() => {
  try {
    return Deno.statSync("/usr/bin/cpio").isFile;
  } catch {
    return false;
  }
})();
if (!hasGnuCpio) console.warn("\n!!! SKIPPED cpio cross-check: /usr/bin/cpio is not installed\n");

Deno.test({
  name: "cpio: GNU cpio lists and extracts what we write",
  ignore: !hasGnuCpio,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const bytes = encodeCpio(sample().filter((e) => !e.path.startsWith("dev/")));
      const list = await new Deno.Command("cpio", {
        args: ["-it", "--quiet"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = list.stdin.getWriter();
      await w.write(bytes);
      await w.close();
      const out = await list.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.deepEqual(
        new TextDecoder().decode(out.stdout).trim().split("\n"),
        ["etc", "etc/motd", "etc/empty", "bin/tool", "bin/sh"],
      );
      const x = new Deno.Command("cpio", {
        args: ["-id", "--quiet"],
        cwd: dir,
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const xw = x.stdin.getWriter();
      await xw.write(bytes);
      await xw.close();
      assert.equal((await x.output()).code, 0);
      assert.equal(await Deno.readTextFile(`${dir}/etc/motd`), "hello\n");
      assert.equal(await Deno.readLink(`${dir}/bin/sh`), "/bin/busybox");
      assert.deepEqual(await Deno.readFile(`${dir}/bin/tool`), sample()[3].data);
      assert.equal((await Deno.stat(`${dir}/bin/tool`)).mode! & 0o777, 0o755);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
