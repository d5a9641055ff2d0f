import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { getxattr, setxattr } from "../sys/fs.ts";
import {
  compareManifests,
  copyTree,
  finalManifestPath,
  openSnapshot,
  readFinalManifest,
  restoreSnapshot,
  takeSnapshot,
  treeManifest,
  verifySnapshot,
  writeFinalManifest,
} from "./snapshot.ts";

function xattrsSupported(dir: string): boolean {
  try {
    setxattr(dir, "user.probe", { value: new Uint8Array([1]) });
    return true;
  } catch {
    return false;
  }
}

async function tree(root: string): Promise<void> {
  await Deno.mkdir(`${root}/a/b`, { recursive: true });
  await Deno.writeTextFile(`${root}/a/one.txt`, "one\n");
  await Deno.writeTextFile(`${root}/a/b/two.txt`, "two two\n");
  await Deno.writeTextFile(`${root}/same1`, "duplicate content\n");
  await Deno.writeTextFile(`${root}/same2`, "duplicate content\n");
  await Deno.link(`${root}/a/one.txt`, `${root}/a/b/one-link.txt`);
  await Deno.symlink("../a/one.txt", `${root}/a/rel-link`);
  await Deno.symlink("/etc/passwd", `${root}/abs-link`);
  await Deno.writeFile(`${root}/exec.sh`, new TextEncoder().encode("#!/bin/sh\n"), { mode: 0o755 });
  await Deno.chmod(`${root}/exec.sh`, 0o4751);
  await Deno.chmod(`${root}/a/b`, 0o750);
  await new Deno.Command("mkfifo", { args: [`${root}/fifo`] }).output();
}

Deno.test("snapshot: take, restore into an empty directory, verify: no differences", async () => {
  const work = await Deno.makeTempDir();
  try {
    const src = `${work}/src`;
    await Deno.mkdir(src);
    await tree(src);
    const xattrs = xattrsSupported(`${src}/same1`);
    if (xattrs) setxattr(`${src}/a/one.txt`, "user.color", { value: new Uint8Array([0, 255, 7]) });
    const snap = await takeSnapshot(src, `${work}/cap.pcapng.snapshot`);
    assert.equal(snap.relativePath(`${work}/cap.pcapng`), "cap.pcapng.snapshot");
    assert.equal(snap.relativePath(`${work}/sub/cap.pcapng`), "../cap.pcapng.snapshot");
    const manifestBytes = await Deno.readFile(`${work}/cap.pcapng.snapshot/manifest.json`);
    assert.equal(snap.manifestSha256, createHash("sha256").update(manifestBytes).digest("hex"));
    const m = snap.manifest;
    const by = new Map(m.entries.map((e) => [e.path, e]));
    assert.deepEqual(m.entries.map((e) => e.path), [...m.entries.map((e) => e.path)].sort());
    assert.equal(by.get(".")?.type, "dir");
    assert.equal(by.get("a/b")?.mode, 0o750);
    assert.equal(by.get("exec.sh")?.mode, 0o4751);
    assert.equal(by.get("a/rel-link")?.target, "../a/one.txt");
    assert.equal(by.get("fifo")?.type, "fifo");
    assert.equal(
      by.get("a/one.txt")?.sha256,
      createHash("sha256").update("one\n").digest("hex"),
    );
    assert.equal(by.get("a/one.txt")?.link_group, by.get("a/b/one-link.txt")?.link_group);
    assert.ok(by.get("a/one.txt")?.link_group !== undefined);
    assert.equal(by.get("same1")?.link_group, undefined);
    // contents are stored once per hash
    const objects = [...Deno.readDirSync(`${work}/cap.pcapng.snapshot/objects`)].map((e) => e.name);
    assert.equal(
      objects.length,
      new Set(m.entries.filter((e) => e.sha256).map((e) => e.sha256)).size,
    );
    if (xattrs) assert.deepEqual(by.get("a/one.txt")?.xattrs, { "user.color": "AP8H" });

    const dst = `${work}/dst`;
    await restoreSnapshot(`${work}/cap.pcapng.snapshot`, dst);
    assert.deepEqual(await verifySnapshot(snap, dst, { mtime: true }), []);
    assert.equal(await Deno.readTextFile(`${dst}/a/b/one-link.txt`), "one\n");
    assert.equal(
      Deno.lstatSync(`${dst}/a/one.txt`).ino,
      Deno.lstatSync(`${dst}/a/b/one-link.txt`).ino,
    );
    assert.equal(await Deno.readLink(`${dst}/abs-link`), "/etc/passwd");
    assert.equal(Deno.statSync(`${dst}/exec.sh`).mode! & 0o7777, 0o4751);
    if (xattrs) {
      const buf = new Uint8Array(8);
      assert.equal(getxattr(`${dst}/a/one.txt`, "user.color", buf), 3);
      assert.deepEqual([...buf.subarray(0, 3)], [0, 255, 7]);
    }
    // the source itself verifies too
    assert.deepEqual(await verifySnapshot(snap, src), []);
    await assert.rejects(() => restoreSnapshot(snap, dst), /not empty/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("snapshot: verify names every difference", async () => {
  const work = await Deno.makeTempDir();
  try {
    const src = `${work}/src`;
    await Deno.mkdir(src);
    await tree(src);
    const snap = await takeSnapshot(src, `${work}/s.snapshot`);
    await Deno.writeTextFile(`${src}/a/b/two.txt`, "TWO TWO\n"); // same size, new content
    await Deno.writeTextFile(`${src}/same1`, "longer content than before\n");
    await Deno.remove(`${src}/a/b/one-link.txt`); // breaks the hard-link group and goes missing
    await Deno.remove(`${src}/a/rel-link`);
    await Deno.symlink("elsewhere", `${src}/a/rel-link`);
    await Deno.chmod(`${src}/exec.sh`, 0o755);
    await Deno.writeTextFile(`${src}/new.txt`, "new\n");
    await Deno.remove(`${src}/fifo`);
    await Deno.mkdir(`${src}/fifo`);
    const diffs = await verifySnapshot(snap, src);
    const seen = diffs.map((d) => `${d.path} ${d.what}`).sort();
    assert.deepEqual(seen, [
      "a/b/one-link.txt missing",
      "a/b/two.txt content",
      "a/one.txt link_group",
      "a/rel-link target",
      "exec.sh mode",
      "fifo type",
      "new.txt extra",
      "same1 content",
      "same1 size",
    ]);
    const mode = diffs.find((d) => d.what === "mode")!;
    assert.equal(mode.expected, "04751");
    assert.equal(mode.actual, "0755");
    // a changed manifest is refused when the capture names the old hash
    await assert.rejects(
      () => openSnapshot(`${work}/s.snapshot`, { expectSha256: "00".repeat(32) }),
      /the capture expects/,
    );
    assert.equal(
      (await openSnapshot(`${work}/s.snapshot`, { expectSha256: snap.manifestSha256 }))
        .manifest.entries.length,
      snap.manifest.entries.length,
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("copyTree keeps hard links, symlinks, modes, fifos and xattrs: the copy verifies equal", async () => {
  const work = await Deno.makeTempDir();
  try {
    const src = `${work}/src`;
    await Deno.mkdir(src);
    await tree(src);
    if (xattrsSupported(`${src}/same1`)) {
      setxattr(`${src}/same1`, "user.k", { value: new Uint8Array([9]) });
    }
    await copyTree(src, `${work}/copy`);
    const a = Deno.lstatSync(`${work}/copy/a/one.txt`);
    const b = Deno.lstatSync(`${work}/copy/a/b/one-link.txt`);
    assert.equal(a.ino, b.ino, "the two names are one inode in the copy");
    assert.equal(a.nlink, 2);
    assert.notEqual(
      Deno.lstatSync(`${work}/copy/same1`).ino,
      Deno.lstatSync(`${work}/copy/same2`).ino,
    );
    assert.deepEqual(
      compareManifests(await treeManifest(src), await treeManifest(`${work}/copy`)),
      [],
    );
    // a copy into a non-empty directory is refused
    await assert.rejects(() => copyTree(src, `${work}/copy`), /not empty/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("final manifest: written beside the capture, read back, stale once the capture grows", async () => {
  const work = await Deno.makeTempDir();
  try {
    const src = `${work}/src`;
    await Deno.mkdir(src);
    await tree(src);
    const capture = `${work}/c.pcapng`;
    assert.equal(await readFinalManifest(capture), undefined);
    await Deno.writeFile(capture, new Uint8Array(100));
    const written = await writeFinalManifest(src, capture);
    assert.equal(finalManifestPath(capture), `${capture}.final.json`);
    assert.equal(written.capture_bytes, 100);
    // hashes, no contents: nothing but the manifest was written
    assert.deepEqual([...Deno.readDirSync(work)].map((e) => e.name).sort(), [
      "c.pcapng",
      "c.pcapng.final.json",
      "src",
    ]);
    const read = await readFinalManifest(capture);
    assert.equal(read?.stale, undefined);
    assert.deepEqual(compareManifests(read!.manifest, await treeManifest(src)), []);
    const one = read!.manifest.entries.find((e) => e.path === "a/one.txt")!;
    assert.equal(one.sha256, createHash("sha256").update("one\n").digest("hex"));
    assert.ok(one.link_group !== undefined);
    await Deno.writeTextFile(`${src}/a/one.txt`, "changed\n");
    assert.deepEqual(
      compareManifests(read!.manifest, await treeManifest(src)).map((d) => `${d.path} ${d.what}`),
      ["a/b/one-link.txt size", "a/b/one-link.txt content", "a/one.txt size", "a/one.txt content"],
    );
    await Deno.writeFile(capture, new Uint8Array(120));
    assert.match((await readFinalManifest(capture))?.stale ?? "", /100-byte capture/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
