import assert from "node:assert/strict";
import { AT_FDCWD, close, type IoVecList, O_DIRECTORY, O_RDONLY, openat } from "./fs.ts";
import { SysError } from "./libc.ts";
import { SPLIT_READ_MIN, SplitReadIoVecList } from "./split_read.ts";

const PAGE = 4096;
const MIB = 1 << 20;

/** A file whose every 4-byte word holds its own offset / 4 plus `salt`. */
async function patterned(bytes: number, salt: number): Promise<{ path: string; data: Uint8Array }> {
  const data = new Uint8Array(bytes);
  const v = new DataView(data.buffer);
  for (let i = 0; i < bytes; i += 4) v.setUint32(i, (i / 4 + salt) >>> 0, true);
  const path = await Deno.makeTempFile({ dir: "/dev/shm", prefix: "ringside-split-read-" });
  await Deno.writeFile(path, data);
  return { path, data };
}

/** Fails at the first byte where `got` and `want` differ (assert's diff of MiB arrays takes minutes). */
function sameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const i = got.findIndex((b, k) => b !== want[k]);
  assert.equal(i, -1, `${what}: first difference at byte ${i}`);
}

/**
 * `pages` 4 KiB buffers scattered over one large array (out of order, with
 * gaps, as a guest's pages may be), listed in `iov`; `gather` reads them back
 * in list order.
 */
function scatteredPages(iov: IoVecList, pages: number) {
  const area = new Uint8Array(pages * 2 * PAGE).fill(0xee);
  const base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(area)));
  // in reverse order, every other page
  const at = (k: number) => (pages - 1 - k) * 2 * PAGE;
  iov.clear();
  for (let k = 0; k < pages; k++) assert.ok(iov.add(base + at(k), PAGE));
  return {
    area,
    gather(): Uint8Array {
      const out = new Uint8Array(pages * PAGE);
      for (let k = 0; k < pages; k++) out.set(area.subarray(at(k), at(k) + PAGE), k * PAGE);
      return out;
    },
  };
}

Deno.test("split read: large reads land byte for byte where one preadv puts them, with the helper taking chunks", async () => {
  const { path, data } = await patterned(8 * MIB, 17);
  const fd = openat(AT_FDCWD, path, { flags: O_RDONLY });
  const iov = new SplitReadIoVecList({ helper: true });
  try {
    assert.ok(iov.helped);
    const pages = scatteredPages(iov, MIB / PAGE);
    // until the helper has read some chunks (it starts asleep; then it watches for the next read)
    for (let k = 0; k < 2000 && (k < 20 || iov.stats.helperChunks === 0); k++) {
      const offset = ((k * 3) % 7) * MIB + (k % 5) * PAGE;
      pages.area.fill(0);
      assert.equal(iov.readAt(fd, offset), MIB);
      sameBytes(pages.gather(), data.subarray(offset, offset + MIB), `read ${k} at ${offset}`);
    }
    assert.ok(iov.stats.splitReads >= 20);
    assert.ok(iov.stats.helperChunks > 0, "the helper never took a chunk");
  } finally {
    iov.close();
    close(fd);
    await Deno.remove(path);
  }
});

Deno.test("split read: end of file inside a chunk and past it, errors, and reads too small to split", async () => {
  const size = MIB + 100 * 1024 + 12;
  const { path, data } = await patterned(size, 3);
  const fd = openat(AT_FDCWD, path, { flags: O_RDONLY });
  const iov = new SplitReadIoVecList({ helper: true });
  try {
    const pages = scatteredPages(iov, MIB / PAGE);
    // the file ends 612 KiB + 12 bytes into the read: the count stops there, later buffers stay as they were
    const offset = 512 * 1024;
    for (let k = 0; k < 20; k++) {
      pages.area.fill(0xee);
      const n = iov.readAt(fd, offset);
      assert.equal(n, size - offset);
      const got = pages.gather();
      sameBytes(got.subarray(0, n), data.subarray(offset), `read ${k}`);
      assert.ok(got.subarray(Math.ceil(n / PAGE) * PAGE).every((b) => b === 0xee));
    }
    assert.equal(iov.readAt(fd, size), 0);
    assert.equal(iov.readAt(fd, 10 * MIB), 0);
    // the first chunk's error is the read's error
    const dir = openat(AT_FDCWD, "/dev/shm", { flags: O_RDONLY | O_DIRECTORY });
    try {
      assert.throws(() => iov.readAt(dir, 0), (e) => e instanceof SysError && e.code === "EISDIR");
    } finally {
      close(dir);
    }
    assert.throws(() => iov.readAt(-1, 0), (e) => e instanceof SysError && e.code === "EBADF");
    // below SPLIT_READ_MIN: one preadv
    const before = iov.stats.splitReads;
    const small = scatteredPages(iov, SPLIT_READ_MIN / PAGE - 1);
    assert.equal(iov.readAt(fd, PAGE), SPLIT_READ_MIN - PAGE);
    sameBytes(small.gather(), data.subarray(PAGE, SPLIT_READ_MIN), "small read");
    assert.equal(iov.stats.splitReads, before);
    // closed: one thread, same bytes
    iov.close();
    assert.equal(iov.helped, false);
    const again = scatteredPages(iov, MIB / PAGE);
    assert.equal(iov.readAt(fd, 0), MIB);
    sameBytes(again.gather(), data.subarray(0, MIB), "read after close");
  } finally {
    iov.close();
    close(fd);
    await Deno.remove(path);
  }
});
