import assert from "node:assert/strict";
import { check, errno, errnoName, openLibc, SysError } from "./libc.ts";

const libc = openLibc(
  {
    close: { parameters: ["i32"], result: "i32" },
    getpid: { parameters: [], result: "i32" },
  } as const,
);

Deno.test("openLibc gives working symbols", () => {
  assert.equal(libc.getpid(), Deno.pid);
});

Deno.test("errno after a failed call, and check() turns it into a SysError", () => {
  assert.equal(libc.close(-1), -1);
  assert.equal(errno(), 9);
  assert.equal(errnoName(errno()), "EBADF");
  assert.throws(() => check("close", libc.close(-1)), (e: unknown) => {
    assert.ok(e instanceof SysError);
    assert.equal(e.errno, 9);
    assert.equal(e.code, "EBADF");
    assert.match(e.message, /^close: EBADF \(Bad file descriptor\)$/);
    return true;
  });
});

Deno.test("errno is each thread's own and survives three threads calling libc at once", async () => {
  // The runtime's own lock waits set errno (EAGAIN) when threads contend; a
  // separate FFI call to read errno let one ENOENT in a million come back
  // as EAGAIN, which a FUSE server then answers to a LOOKUP.
  const dir = Deno.makeTempDirSync({ prefix: "ringside-errno-" });
  const n = 1_000_000;
  const workers = [0, 1, 2].map(() =>
    new Worker(new URL("./_errno_worker.ts", import.meta.url), { type: "module" })
  );
  try {
    const results = await Promise.all(
      workers.map((w) =>
        new Promise<Record<number, number>>((resolve, reject) => {
          w.onmessage = (e) => resolve(e.data);
          w.onerror = (e) => reject(new Error(e.message));
          w.postMessage({ dir, n });
        })
      ),
    );
    for (const r of results) assert.deepEqual(r, { 2: n }, "every lookup failed with ENOENT");
    // and this thread's errno is untouched by theirs
    assert.equal(libc.close(-1), -1);
    assert.equal(errno(), 9);
  } finally {
    for (const w of workers) w.terminate();
    Deno.removeSync(dir);
  }
});
