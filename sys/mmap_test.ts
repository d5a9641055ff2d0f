import assert from "node:assert/strict";
import { ftruncate, memfdCreate, mmap, munmap, PROT_READ } from "./mmap.ts";
import { close } from "./socket.ts";
import { SysError } from "./libc.ts";

Deno.test("two mappings of one memfd, one at an offset, share their bytes", () => {
  const fd = memfdCreate("mmap-test");
  ftruncate(fd, 3 * 4096);
  const whole = mmap(fd, 3 * 4096);
  const tail = mmap(fd, 4096, { offset: 2 * 4096 });
  whole.bytes[2 * 4096 + 5] = 0xab;
  assert.equal(tail.bytes[5], 0xab);
  tail.bytes[0] = 7;
  assert.equal(whole.bytes[2 * 4096], 7);
  assert.equal(Deno.statSync(`/proc/self/fd/${fd}`).size, 3 * 4096); // a real file of that size
  const ro = mmap(fd, 4096, { prot: PROT_READ });
  assert.equal(ro.bytes.length, 4096);
  for (const m of [whole, tail, ro]) munmap(m);
  close(fd);
});

Deno.test("mmap errors are SysErrors", () => {
  const fd = memfdCreate("mmap-err");
  ftruncate(fd, 4096);
  assert.throws(() => mmap(fd, 4096, { offset: 1 }), (e: unknown) => {
    assert.ok(e instanceof SysError);
    assert.equal(e.code, "EINVAL");
    return true;
  });
  close(fd);
  assert.throws(() => mmap(fd, 4096), (e: unknown) => e instanceof SysError && e.code === "EBADF");
  assert.throws(
    () => ftruncate(-1, 1),
    (e: unknown) => e instanceof SysError && e.code === "EBADF",
  );
});
