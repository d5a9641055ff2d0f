import assert from "node:assert/strict";
import { type AioCompletion, AioContext } from "./aio.ts";
import * as fs from "./fs.ts";
import { Errno, SysError } from "./libc.ts";

const PAGE = 4096;

/** A file under /var/tmp (a block-device file system: O_DIRECT and native AIO really go to the disk). */
async function directFile(): Promise<{ path: string; fd: number }> {
  const path = await Deno.makeTempFile({ dir: "/var/tmp", prefix: "ringside-aio-" });
  const fd = fs.openat(fs.AT_FDCWD, path, { flags: fs.O_RDWR | fs.O_DIRECT });
  assert.notEqual(
    fs.fstatfsType(fd),
    fs.TMPFS_MAGIC,
    "/var/tmp is tmpfs here: this test needs a disk",
  );
  return { path, fd };
}

/** `n` bytes, page-aligned, filled with a pattern that differs per `seed` and per page. */
function pattern(n: number, seed: number): Uint8Array {
  const b = fs.alignedBytes(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7 + (i >> 12)) & 0xff;
  return b;
}

function byTag(done: AioCompletion[]): AioCompletion[] {
  return [...done].sort((a, b) => a.tag - b.tag);
}

Deno.test("aio: aligned O_DIRECT writes in flight together are reaped with their tags and lengths; the file holds them", async () => {
  const { path, fd } = await directFile();
  const aio = new AioContext(8);
  try {
    // six writes of different sizes at disjoint offsets, none reaped before the last is submitted
    const sizes = [PAGE, 2 * PAGE, 64 * 1024, PAGE, 1 << 20, 3 * PAGE];
    const bufs: Uint8Array[] = [];
    const offsets: number[] = [];
    let offset = 0;
    for (let i = 0; i < sizes.length; i++) {
      bufs.push(pattern(sizes[i], i + 1));
      offsets.push(offset);
      aio.submitWrite(fd, bufs[i], offset, 100 + i);
      offset += sizes[i];
      assert.equal(aio.inFlight, i + 1);
    }
    const done: AioCompletion[] = [];
    while (done.length < sizes.length) {
      const got = aio.reap(1);
      assert.ok(got.length >= 1, "reap(1) returned nothing");
      done.push(...got);
      assert.equal(aio.inFlight, sizes.length - done.length);
    }
    assert.deepEqual(byTag(done), sizes.map((n, i) => ({ tag: 100 + i, result: n })));
    assert.deepEqual(aio.reap(0), []);
    assert.deepEqual(aio.reap(5), [], "nothing in flight: reap returns at once");
    // read back through the page cache: every byte where it was written
    const file = await Deno.readFile(path);
    assert.equal(file.length, offset);
    for (let i = 0; i < sizes.length; i++) {
      assert.deepEqual(file.subarray(offsets[i], offsets[i] + sizes[i]), bufs[i], `write ${i}`);
    }
  } finally {
    aio.destroy();
    fs.close(fd);
    await Deno.remove(path);
  }
});

Deno.test("aio: tags are unsigned 32-bit; a rewrite of an earlier page lands", async () => {
  const { path, fd } = await directFile();
  const aio = new AioContext(2);
  try {
    aio.submitWrite(fd, pattern(2 * PAGE, 5), 0, 0xffff_fffe);
    assert.deepEqual(aio.reap(1), [{ tag: 0xffff_fffe, result: 2 * PAGE }]);
    const second = pattern(PAGE, 9);
    aio.submitWrite(fd, second, PAGE, 0);
    assert.deepEqual(aio.reap(1), [{ tag: 0, result: PAGE }]);
    const file = await Deno.readFile(path);
    assert.deepEqual(file.subarray(0, PAGE), pattern(PAGE, 5));
    assert.deepEqual(file.subarray(PAGE), second);
  } finally {
    aio.destroy();
    fs.close(fd);
    await Deno.remove(path);
  }
});

Deno.test("aio: a submission past the depth throws EAGAIN and is not counted; reaping makes room", async () => {
  const { path, fd } = await directFile();
  const aio = new AioContext(3);
  try {
    const page = pattern(PAGE, 1);
    for (let i = 0; i < 3; i++) aio.submitWrite(fd, page, i * PAGE, i);
    assert.throws(
      () => aio.submitWrite(fd, page, 3 * PAGE, 3),
      (e) => e instanceof SysError && e.call === "io_submit" && e.errno === Errno.EAGAIN,
    );
    assert.equal(aio.inFlight, 3);
    const first = aio.reap(1);
    assert.ok(first.length >= 1);
    aio.submitWrite(fd, page, 3 * PAGE, 3);
    const rest = aio.reap(aio.inFlight);
    assert.deepEqual(byTag([...first, ...rest]).map((d) => d.tag), [0, 1, 2, 3]);
    assert.equal((await Deno.stat(path)).size, 4 * PAGE);
  } finally {
    aio.destroy();
    fs.close(fd);
    await Deno.remove(path);
  }
  assert.throws(() => new AioContext(0), RangeError);
  assert.throws(() => new AioContext(4097), RangeError);
});

Deno.test("aio: destroy waits for every write in flight and returns their completions", async () => {
  const { path, fd } = await directFile();
  const aio = new AioContext(16);
  const MIB = 1 << 20;
  const bufs: Uint8Array[] = [];
  try {
    for (let i = 0; i < 16; i++) {
      bufs.push(pattern(MIB, 40 + i));
      aio.submitWrite(fd, bufs[i], i * MIB, i + 1);
    }
    const rest = aio.destroy();
    assert.equal(aio.inFlight, 0);
    // whatever completed before destroy() was called is among its answers too: nothing was reaped
    assert.deepEqual(byTag(rest), bufs.map((_, i) => ({ tag: i + 1, result: MIB })));
    assert.deepEqual(aio.destroy(), [], "destroy is idempotent");
    assert.throws(() => aio.submitWrite(fd, bufs[0], 0, 99), /submit after destroy/);
    const file = await Deno.readFile(path);
    assert.equal(file.length, 16 * MIB);
    for (let i = 0; i < 16; i++) {
      assert.deepEqual(file.subarray(i * MIB, (i + 1) * MIB), bufs[i], `MiB ${i}`);
    }
  } finally {
    aio.destroy();
    fs.close(fd);
    await Deno.remove(path);
  }
});

Deno.test("aio: a misaligned O_DIRECT write completes with -EINVAL and writes nothing", async () => {
  const { path, fd } = await directFile();
  const aio = new AioContext(2);
  try {
    const page = pattern(PAGE, 3);
    aio.submitWrite(fd, page, 100, 7); // the offset is not a multiple of the logical block size
    assert.deepEqual(aio.reap(1), [{ tag: 7, result: -Errno.EINVAL }]);
    // (a misaligned buffer address is device-dependent: virtio-blk here takes any, so no test of it)
    assert.equal((await Deno.stat(path)).size, 0);
  } finally {
    aio.destroy();
    fs.close(fd);
    await Deno.remove(path);
  }
});
