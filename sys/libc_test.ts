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
