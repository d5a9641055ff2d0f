import assert from "node:assert/strict";
import { eventfd, eventfdRead, eventfdWrite } from "./eventfd.ts";
import { close } from "./socket.ts";
import { SysError } from "./libc.ts";
import { poll, POLLIN } from "./poll.ts";

Deno.test("eventfd: signals add up, a read drains, an empty non-blocking read gives 0", () => {
  const fd = eventfd();
  assert.equal(eventfdRead(fd), 0n);
  eventfdWrite(fd);
  eventfdWrite(fd, 41n);
  assert.equal(poll([{ fd, events: POLLIN }], 0), 1);
  assert.equal(eventfdRead(fd), 42n);
  assert.equal(poll([{ fd, events: POLLIN }], 0), 0);
  assert.equal(eventfdRead(fd), 0n);
  close(fd);
});

Deno.test("eventfd: semaphore mode reads one at a time; initial value counts", () => {
  const fd = eventfd({ semaphore: true, initval: 2 });
  assert.equal(eventfdRead(fd), 1n);
  assert.equal(eventfdRead(fd), 1n);
  assert.equal(eventfdRead(fd), 0n);
  close(fd);
});

Deno.test("eventfd: overflow on a non-blocking fd returns false; bad fd is a SysError", () => {
  const fd = eventfd();
  assert.equal(eventfdWrite(fd, 0xfffffffffffffffen), true);
  assert.equal(eventfdWrite(fd, 1n), false);
  close(fd);
  assert.throws(
    () => eventfdWrite(fd),
    (e: unknown) => e instanceof SysError && e.code === "EBADF",
  );
  assert.throws(() => eventfdRead(fd), (e: unknown) => e instanceof SysError && e.code === "EBADF");
});
