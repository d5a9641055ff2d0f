/**
 * O_DIRECT through the engine: the payload of a WRITE sits at an arbitrary
 * address inside the request message, so the engine must not hand it to an
 * O_DIRECT host descriptor as is; offsets and lengths stay the client's.
 */
import assert from "node:assert/strict";
import { FUSE_ROOT_ID } from "../codecs/fuse/mod.ts";
import { AT_FDCWD, close, fstat, isAligned, O_DIRECT, O_PATH, openat } from "../sys/fs.ts";
import { E, type TestClient, withServer } from "./_test_client.ts";

const O_RDWR = 2, O_CREAT = 0o100, S_IFREG = 0o100000;

async function createDirect(c: TestClient, name: string) {
  const r = await c.call("CREATE", FUSE_ROOT_ID, {
    flags: O_RDWR | O_CREAT | O_DIRECT,
    mode: S_IFREG | 0o644,
    umask: 0,
    open_flags: 0,
    name,
  });
  assert.equal(r.error, 0, `CREATE ${name} with O_DIRECT`);
  return { nodeid: r.body!.entry.nodeid, fh: r.body!.open.fh };
}

function pattern(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

/** Whether the host descriptor the engine opened for `fh` really has O_DIRECT. */
function hostDirect(c: TestClient, fh: bigint): boolean {
  const fd = c.server.handler.handles.get(fh).fd;
  const flags = Number(
    Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`).match(/flags:\s+(\d+)/)![1],
  );
  return (parseInt(String(flags), 8) & O_DIRECT) !== 0;
}

Deno.test(
  "O_DIRECT: aligned WRITE and READ succeed whatever the payload's address, and reach the host",
  withServer({ cache: "never" }, async (c, dir) => {
    const { nodeid, fh } = await createDirect(c, "d");
    assert.ok(hostDirect(c, fh), "the host descriptor keeps O_DIRECT (allowDirectIo default)");
    const data = pattern(128 * 1024, 3);
    const w = await c.call("WRITE", nodeid, {
      fh,
      offset: 0n,
      size: data.length,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data,
    });
    assert.equal(w.error, 0, "O_DIRECT WRITE of 128 KiB at offset 0");
    assert.equal(w.body!.size, data.length);
    const second = pattern(4096, 9);
    const w2 = await c.call("WRITE", nodeid, {
      fh,
      offset: 8192n,
      size: 4096,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data: second,
    });
    assert.equal(w2.error, 0, "O_DIRECT WRITE of 4 KiB at 8192");
    const r = await c.call("READ", nodeid, {
      fh,
      offset: 4096n,
      size: 8192,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    assert.equal(r.error, 0, "O_DIRECT READ");
    assert.deepEqual(r.body!.data, Uint8Array.from([...data.subarray(4096, 8192), ...second]));
    const host = Deno.readFileSync(`${dir}/d`);
    assert.equal(host.length, data.length);
    assert.deepEqual(host.subarray(8192, 12288), second);
  }),
);

Deno.test(
  "O_DIRECT: an offset or length that is not a block multiple fails with EINVAL, as locally",
  withServer({ cache: "never" }, async (c, dir) => {
    const { nodeid, fh } = await createDirect(c, "d");
    const w = await c.call("WRITE", nodeid, {
      fh,
      offset: 4100n,
      size: 100,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data: pattern(100, 1),
    });
    assert.equal(w.error, E.EINVAL);
    // the same on the host directly, so the engine agrees with a local file system
    const fd = openat(AT_FDCWD, `${dir}/d`, { flags: O_PATH });
    assert.equal(fstat(fd).size, 0n);
    close(fd);
  }),
);

Deno.test(
  "O_DIRECT: with allowDirectIo false the host descriptor drops it (virtiofsd's default)",
  withServer({ cache: "never", allowDirectIo: false }, async (c, dir) => {
    const { nodeid, fh } = await createDirect(c, "d");
    assert.equal(hostDirect(c, fh), false);
    const w = await c.call("WRITE", nodeid, {
      fh,
      offset: 4100n,
      size: 100,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data: pattern(100, 1),
    });
    assert.equal(w.error, 0, "an unaligned write is buffered on the host");
    assert.equal(Deno.statSync(`${dir}/d`).size, 4200);
  }),
);

Deno.test("isAligned: views inside an aligned buffer", () => {
  const raw = new Uint8Array(16384);
  let start = 0;
  while (!isAligned(raw.subarray(start))) start++;
  assert.ok(start < 4096);
  assert.ok(isAligned(raw.subarray(start + 4096)));
  assert.ok(!isAligned(raw.subarray(start + 80)));
});
