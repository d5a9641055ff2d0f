/**
 * Zero-copy READ and WRITE (`handleVectored`): the data is read into and
 * written from scattered buffers listed as iovecs, as the vhost-user Worker
 * does with a guest's descriptors. Checked against the host file and against
 * the copying path; requests it must leave to `handle` return null.
 */
import assert from "node:assert/strict";
import { encodeRequest, FUSE_ROOT_ID } from "../codecs/fuse/mod.ts";
import { IoVecList, O_APPEND, O_DIRECT } from "../sys/fs.ts";
import { E, type TestClient, withServer } from "./_test_client.ts";
import type { PassthroughServer } from "./session.ts";

function create(c: TestClient, name: string, flags = 0) {
  return c.create(FUSE_ROOT_ID, name, flags);
}

/** The first 80 bytes of a READ or WRITE request as `handleVectored` takes them. */
function head(
  op: "READ" | "WRITE",
  unique: bigint,
  nodeid: bigint,
  fh: bigint,
  offset: number,
  size: number,
): Uint8Array {
  const body = {
    fh,
    offset: BigInt(offset),
    size,
    read_flags: 0,
    write_flags: 0,
    lock_owner: 0n,
    flags: 0,
    padding: 0,
    data: new Uint8Array(size),
  };
  const full = encodeRequest({ op, header: { unique, nodeid, pid: 1 }, body } as never);
  const h = full.slice(0, 80);
  return h;
}

/** Buffers of the given sizes and an iovec list over them. */
function scattered(sizes: number[]): { parts: Uint8Array[]; iov: IoVecList } {
  const parts = sizes.map((n) => new Uint8Array(n));
  const iov = new IoVecList();
  for (const p of parts) {
    assert.ok(iov.add(Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(p))), p.length));
  }
  return { parts, iov };
}

function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(at, true);
}

function i32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset).getInt32(at, true);
}

Deno.test(
  "vectored WRITE then READ through scattered buffers: the host file and the copying path agree",
  withServer({ cache: "never" }, async (c, dir) => {
    const server = c.server as PassthroughServer;
    server.repliesConsumedAtOnce = true;
    const { nodeid, fh } = await create(c, "f");
    // three uneven pieces, 1 + 4095 + 5000 bytes, written at offset 100
    const w = scattered([1, 4095, 5000]);
    w.parts.forEach((p, i) => p.fill(0x41 + i));
    const wr = server.handleVectored(head("WRITE", 7n, nodeid, fh, 100, 9096), w.iov)!;
    assert.equal(u32(wr, 0), 24);
    assert.equal(i32(wr, 4), 0);
    assert.equal(u32(wr, 16), 9096, "fuse_write_out.size");
    const host = Deno.readFileSync(`${dir}/f`);
    assert.equal(host.length, 100 + 9096);
    assert.deepEqual(host.subarray(100), new Uint8Array([...w.parts.flatMap((p) => [...p])]));
    // READ into two buffers, past the end of the file: a short read
    const r = scattered([4096, 8192]);
    const rr = server.handleVectored(head("READ", 8n, nodeid, fh, 4000, 12288), r.iov)!;
    assert.equal(rr.length, 16);
    assert.equal(i32(rr, 4), 0);
    const n = u32(rr, 0) - 16;
    assert.equal(n, host.length - 4000);
    const got = new Uint8Array([...r.parts[0], ...r.parts[1]]).subarray(0, n);
    assert.deepEqual(got, host.subarray(4000));
    // the copying path reads the same bytes
    const copy = await c.call("READ", nodeid, {
      fh,
      offset: 4000n,
      size: 12288,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.deepEqual(copy.body!.data, got);
  }),
);

Deno.test(
  "vectored requests it must not take return null; errors come back as replies",
  withServer({ cache: "never" }, async (c) => {
    const server = c.server as PassthroughServer;
    const { nodeid, fh } = await create(c, "g");
    const one = scattered([16]);
    // replies not consumed at once: the copying path
    server.repliesConsumedAtOnce = false;
    assert.equal(server.handleVectored(head("WRITE", 9n, nodeid, fh, 0, 16), one.iov), null);
    server.repliesConsumedAtOnce = true;
    // another opcode, a size that does not match the buffers
    const getattr = encodeRequest({
      op: "GETATTR",
      header: { unique: 10n, nodeid },
      body: { getattr_flags: 0, dummy: 0, fh: 0n },
    }).slice(0, 80);
    assert.equal(server.handleVectored(getattr, one.iov), null);
    assert.equal(server.handleVectored(head("WRITE", 11n, nodeid, fh, 0, 32), one.iov), null);
    assert.equal(server.handleVectored(head("READ", 12n, nodeid, fh, 0, 8), one.iov), null);
    // O_APPEND and O_DIRECT handles keep their own paths
    const app = await create(c, "a", O_APPEND);
    assert.equal(
      server.handleVectored(head("WRITE", 13n, app.nodeid, app.fh, 0, 16), one.iov),
      null,
    );
    const direct = await create(c, "d", O_DIRECT);
    assert.equal(
      server.handleVectored(head("READ", 14n, direct.nodeid, direct.fh, 0, 16), one.iov),
      null,
    );
    // a handle that is not open: EBADF as a reply, not an exception
    const bad = server.handleVectored(head("READ", 15n, nodeid, 999n, 0, 16), one.iov)!;
    assert.equal(u32(bad, 0), 16);
    assert.equal(i32(bad, 4), -E.EBADF);
  }),
);

Deno.test(
  "vectored WRITE on a read-only share answers EROFS",
  withServer({ cache: "never", readonly: true }, async (c, dir) => {
    Deno.writeTextFileSync(`${dir}/ro`, "x");
    const server = c.server as PassthroughServer;
    server.repliesConsumedAtOnce = true;
    const nodeid = await c.lookup(FUSE_ROOT_ID, "ro");
    const fh = await c.open(nodeid, 0);
    const one = scattered([4]);
    const r = server.handleVectored(head("WRITE", 20n, nodeid, fh, 0, 4), one.iov)!;
    assert.equal(i32(r, 4), -E.EROFS);
    assert.equal(Deno.readTextFileSync(`${dir}/ro`), "x");
  }),
);
