import assert from "node:assert/strict";
import {
  accept,
  close,
  connectUnix,
  listenUnix,
  recvMsg,
  sendMsg,
  setNonblocking,
  SHUT_WR,
  shutdown,
  socketPair,
} from "./socket.ts";
import { ftruncate, memfdCreate, mmap, munmap } from "./mmap.ts";
import { eventfd, eventfdRead, eventfdWrite } from "./eventfd.ts";
import { SysError } from "./libc.ts";

Deno.test("a memfd passed across a socketpair maps to the same bytes on the other side", () => {
  const [a, b] = socketPair();
  const memfd = memfdCreate("socket-test");
  ftruncate(memfd, 4096);
  const mine = mmap(memfd, 4096);
  mine.bytes.set([1, 2, 3, 4], 100);
  const header = new Uint8Array([5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(sendMsg(a, header, { fds: [memfd] }), 12);
  const buf = new Uint8Array(64);
  const got = recvMsg(b, buf);
  assert.equal(got.bytes, 12);
  assert.deepEqual(buf.subarray(0, 12), header);
  assert.equal(got.fds.length, 1);
  assert.notEqual(got.fds[0], memfd);
  const theirs = mmap(got.fds[0], 4096);
  assert.deepEqual(Array.from(theirs.bytes.subarray(100, 104)), [1, 2, 3, 4]);
  theirs.bytes[200] = 99; // and writes flow back: MAP_SHARED on both sides
  assert.equal(mine.bytes[200], 99);
  munmap(theirs);
  munmap(mine);
  for (const fd of [got.fds[0], memfd, a, b]) close(fd);
});

Deno.test("ten fds with one message arrive in order, and a message without fds carries none", () => {
  const [a, b] = socketPair();
  const efds = Array.from({ length: 10 }, () => eventfd());
  efds.forEach((fd, i) => eventfdWrite(fd, BigInt(i + 1)));
  sendMsg(a, new Uint8Array([7]), { fds: efds });
  sendMsg(a, new Uint8Array([8]));
  const buf = new Uint8Array(1);
  const first = recvMsg(b, buf);
  assert.equal(first.bytes, 1);
  assert.equal(first.fdsTruncated, false);
  assert.equal(first.fds.length, 10);
  // each received fd is the same eventfd: its counter is the value written
  assert.deepEqual(first.fds.map((fd) => eventfdRead(fd)), efds.map((_, i) => BigInt(i + 1)));
  const second = recvMsg(b, buf);
  assert.equal(buf[0], 8);
  assert.deepEqual(second.fds, []);
  for (const fd of [...efds, ...first.fds, a, b]) close(fd);
});

Deno.test("more fds than maxFds are reported as truncated", () => {
  const [a, b] = socketPair();
  const efds = Array.from({ length: 4 }, () => eventfd());
  sendMsg(a, new Uint8Array([1]), { fds: efds });
  const got = recvMsg(b, new Uint8Array(4), { maxFds: 2 });
  assert.equal(got.fdsTruncated, true);
  assert.ok(got.fds.length <= 2);
  for (const fd of [...efds, ...got.fds, a, b]) close(fd);
});

Deno.test("listen/accept/connect on a path; shutdown gives the peer end of stream", () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/vhost.sock`;
  try {
    const lfd = listenUnix(path);
    assert.ok(Deno.lstatSync(path).isSocket);
    setNonblocking(lfd);
    assert.equal(accept(lfd), -1); // nothing pending yet
    const c = connectUnix(path);
    const s = accept(lfd);
    assert.ok(s >= 0);
    sendMsg(c, new TextEncoder().encode("hello"));
    const buf = new Uint8Array(16);
    assert.equal(recvMsg(s, buf).bytes, 5);
    assert.equal(new TextDecoder().decode(buf.subarray(0, 5)), "hello");
    shutdown(c, SHUT_WR);
    assert.equal(recvMsg(s, buf).bytes, 0);
    // a stale socket file is replaced by the next listener
    close(lfd);
    const again = listenUnix(path);
    for (const fd of [again, c, s]) close(fd);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("non-blocking receive with nothing to read returns -1", () => {
  const [a, b] = socketPair({ nonblocking: true });
  assert.equal(recvMsg(b, new Uint8Array(8)).bytes, -1);
  const [c, d] = socketPair();
  assert.equal(recvMsg(d, new Uint8Array(8), { dontWait: true }).bytes, -1);
  for (const fd of [a, b, c, d]) close(fd);
});

Deno.test("errors are SysErrors naming the call and errno", () => {
  assert.throws(() => connectUnix("/nonexistent/ringside.sock"), (e: unknown) => {
    assert.ok(e instanceof SysError);
    assert.equal(e.call, "connect");
    assert.equal(e.code, "ENOENT");
    return true;
  });
  const [a, b] = socketPair();
  close(b);
  assert.throws(() => sendMsg(a, new Uint8Array(4)), (e: unknown) => {
    assert.ok(e instanceof SysError);
    assert.equal(e.code, "EPIPE");
    return true;
  });
  close(a);
  assert.throws(() => recvMsg(a, new Uint8Array(4)), (e: unknown) => {
    assert.ok(e instanceof SysError && e.code === "EBADF" && e.call === "recvmsg");
    return true;
  });
  assert.throws(() => close(a), (e: unknown) => e instanceof SysError && e.code === "EBADF");
});
