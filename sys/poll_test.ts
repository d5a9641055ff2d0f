import assert from "node:assert/strict";
import {
  poll,
  pollAsync,
  type PollFd,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  PollSet,
  waitReadable,
  waitReadableAsync,
} from "./poll.ts";
import { eventfd, eventfdRead, eventfdWrite } from "./eventfd.ts";
import { close, sendMsg, socketPair } from "./socket.ts";

Deno.test("poll reports which of several fds is ready", () => {
  const e1 = eventfd();
  const e2 = eventfd();
  const [a, b] = socketPair();
  const set: PollFd[] = [{ fd: e1, events: POLLIN }, { fd: e2, events: POLLIN }, {
    fd: b,
    events: POLLIN,
  }];
  assert.equal(poll(set, 0), 0);
  assert.deepEqual(set.map((p) => p.revents), [0, 0, 0]);
  eventfdWrite(e2);
  sendMsg(a, new Uint8Array([1]));
  assert.equal(poll(set, 1000), 2);
  assert.deepEqual(set.map((p) => p.revents), [0, POLLIN, POLLIN]);
  assert.equal(poll([{ fd: a, events: POLLOUT }], 0), 1);
  close(a);
  const hup: PollFd[] = [{ fd: b, events: POLLIN }];
  poll(hup, 0);
  assert.ok((hup[0].revents! & (POLLIN | POLLHUP)) !== 0);
  assert.equal(waitReadable(e1, 0), false);
  for (const fd of [e1, e2, b]) close(fd);
  const bad: PollFd[] = [{ fd: e1, events: POLLIN }];
  assert.equal(poll(bad, 0), 1);
  assert.equal(bad[0].revents, POLLNVAL);
});

Deno.test("pollAsync waits on a helper thread while the event loop runs the signaller", async () => {
  const fd = eventfd();
  let timerRan = false;
  const timer = setTimeout(() => {
    timerRan = true;
    eventfdWrite(fd);
  }, 20);
  const set: PollFd[] = [{ fd, events: POLLIN }];
  const n = await pollAsync(set, 5000);
  clearTimeout(timer);
  assert.equal(timerRan, true); // only the event loop could have written the eventfd
  assert.equal(n, 1);
  assert.equal(set[0].revents, POLLIN);
  assert.equal(await waitReadableAsync(fd, 0), true);
  close(fd);
});

Deno.test("pollAsync times out with 0", async () => {
  const fd = eventfd();
  assert.equal(await pollAsync([{ fd, events: POLLIN }], 30), 0);
  close(fd);
});

Deno.test("PollSet waits on the same fds again and again and reports each one's events", () => {
  const e1 = eventfd();
  const e2 = eventfd();
  const [a, b] = socketPair();
  try {
    const set = new PollSet([e1, e2, b]);
    assert.equal(set.wait(0), 0);
    assert.deepEqual([0, 1, 2].map((i) => set.revents(i)), [0, 0, 0]);
    eventfdWrite(e2);
    sendMsg(a, new Uint8Array([1]));
    assert.equal(set.wait(1000), 2);
    assert.deepEqual([0, 1, 2].map((i) => set.ready(i)), [false, true, true]);
    // drained: the next wait sees only what is still pending
    assert.equal(eventfdRead(e2), 1n);
    assert.equal(set.wait(0), 1);
    assert.deepEqual([0, 1, 2].map((i) => set.revents(i)), [0, 0, POLLIN]);
    close(a);
    assert.equal(set.wait(0), 1);
    assert.ok((set.revents(2) & POLLHUP) !== 0 || (set.revents(2) & POLLIN) !== 0);
    assert.equal(new PollSet([e1]).wait(30), 0, "a timed wait with nothing ready times out");
  } finally {
    close(e1);
    close(e2);
    close(b);
  }
});
