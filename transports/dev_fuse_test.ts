import assert from "node:assert/strict";
import { peerTest } from "../testing/peers.ts";
import { isMounted } from "../testing/mounts.ts";
import { mountDevFuse } from "./dev_fuse.ts";
import { passthroughSpec, type ServerSpec } from "./server_spec.ts";

function helloSpec(options: Record<string, unknown> = {}): ServerSpec {
  return {
    module: new URL("./_test_server.ts", import.meta.url).href,
    factory: "createHelloServer",
    args: [options],
  };
}

peerTest("dev_fuse: the kernel reads a file through the reader Worker, unmount ends the service", {
  needs: ["fuse"],
}, async () => {
  const mp = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
  const logs: string[] = [];
  const m = await mountDevFuse(mp, helloSpec({ content: "abc\n" }), { log: (l) => logs.push(l) });
  try {
    assert.equal(isMounted(mp), true);
    // async fs ops run on Deno's blocking pool, never on the Worker that serves
    assert.equal(await Deno.readTextFile(`${mp}/hello`), "abc\n");
    const names = [];
    for await (const e of Deno.readDir(mp)) names.push(e.name);
    assert.deepEqual(names, ["hello"]);
    await assert.rejects(Deno.stat(`${mp}/missing`), Deno.errors.NotFound);
    const st = await Deno.stat(`${mp}/hello`);
    assert.equal(st.size, 4);
    assert.equal(st.mode! & 0o777, 0o644);
  } finally {
    const end = await m.unmount();
    assert.equal(end.reason, "unmounted");
    assert.ok(end.requests >= 5, `only ${end.requests} requests`);
  }
  assert.equal(isMounted(mp), false);
  assert.deepEqual(logs, []);
  Deno.removeSync(mp);
});

peerTest(
  "dev_fuse: promise replies are written when they resolve",
  { needs: ["fuse"] },
  async () => {
    const mp = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
    const m = await mountDevFuse(mp, helloSpec({ content: "later\n", asyncRead: true }));
    try {
      const reads = await Promise.all([1, 2, 3].map(() => Deno.readTextFile(`${mp}/hello`)));
      assert.deepEqual(reads, ["later\n", "later\n", "later\n"]);
    } finally {
      await m.unmount();
    }
    Deno.removeSync(mp);
  },
);

peerTest(
  "dev_fuse: an unmount from outside ends the service cleanly",
  { needs: ["fuse"] },
  async () => {
    const mp = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
    const m = await mountDevFuse(mp, helloSpec());
    assert.equal(await Deno.readTextFile(`${mp}/hello`), "hello from ringside\n");
    const out = await new Deno.Command("umount", { args: [mp] }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const end = await m.finished;
    assert.equal(end.reason, "unmounted");
    assert.equal(isMounted(mp), false);
    Deno.removeSync(mp);
  },
);

peerTest("dev_fuse: a busy mount is detached and served until its last file closes", {
  needs: ["fuse"],
}, async () => {
  const mp = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
  const m = await mountDevFuse(mp, helloSpec({ content: "still here\n" }), { log: () => {} });
  const file = await Deno.open(`${mp}/hello`);
  const ending = m.unmount();
  // detached from the namespace, still served for the open file
  const buf = new Uint8Array(64);
  const n = await file.read(buf);
  assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "still here\n");
  file.close();
  const end = await ending;
  assert.equal(end.reason, "unmounted");
  assert.equal(isMounted(mp), false);
  Deno.removeSync(mp);
});

peerTest("dev_fuse: a server that cannot be built fails the mount and leaves nothing mounted", {
  needs: ["fuse"],
}, async () => {
  const mp = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
  const spec: ServerSpec = { ...helloSpec(), factory: "createBrokenServer" };
  await assert.rejects(mountDevFuse(mp, spec), /cannot be built/);
  await assert.rejects(
    mountDevFuse(mp, { ...helloSpec(), factory: "noSuchFactory" }),
    /noSuchFactory is not exported/,
  );
  assert.equal(isMounted(mp), false);
  Deno.removeSync(mp);
});

peerTest(
  "dev_fuse: abort ends a mount whose files are still open",
  { needs: ["fuse"] },
  async () => {
    const mp = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
    const m = await mountDevFuse(mp, helloSpec(), { log: () => {} });
    const file = await Deno.open(`${mp}/hello`);
    const ending = m.unmount({ lazy: true });
    m.abort();
    const end = await ending;
    assert.equal(end.reason, "unmounted");
    await assert.rejects(file.read(new Uint8Array(8)));
    file.close();
    Deno.removeSync(mp);
  },
);

/** The mount's readahead in KiB, from the bdi of its anonymous device. */
async function readAheadOf(mp: string): Promise<number> {
  const dev = (await Deno.stat(mp)).dev; // a FUSE request, answered by the Worker
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  return Number(Deno.readTextFileSync(`/sys/class/bdi/0:${minor}/read_ahead_kb`).trim());
}

peerTest("dev_fuse: readahead is raised after INIT (1 MiB by default), or left alone", {
  needs: ["fuse"],
}, async () => {
  const mp = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
  for (const [options, want] of [[{}, 1024], [{ readAheadKb: 512 }, 512]] as const) {
    const m = await mountDevFuse(mp, helloSpec(), options);
    try {
      assert.equal(await readAheadOf(mp), want);
    } finally {
      await m.unmount();
    }
  }
  const m = await mountDevFuse(mp, helloSpec(), { readAheadKb: 0 });
  try {
    // the kernel's own: at most the 128 KiB it offered in INIT
    assert.ok(await readAheadOf(mp) <= 128);
  } finally {
    await m.unmount();
  }
  Deno.removeSync(mp);
});

peerTest("dev_fuse: FUSE passthrough serves reads and writes without requests, or not when off", {
  needs: ["fuse"],
}, async () => {
  const base = Deno.makeTempDirSync({ prefix: "ringside-devfuse-" });
  const shared = `${base}/shared`, mp = `${base}/mnt`;
  Deno.mkdirSync(shared);
  Deno.mkdirSync(mp);
  const data = Uint8Array.from({ length: 8 << 20 }, (_, i) => (i * 31 + 7) & 0xff);
  const counts: Record<string, number> = {};
  for (const passthrough of [true, false]) {
    const m = await mountDevFuse(mp, passthroughSpec(shared, { cache: "auto" }), { passthrough });
    let end;
    try {
      const f = Deno.openSync(`${mp}/f`, { read: true, write: true, create: true });
      for (let off = 0; off < data.length; off += 131072) {
        f.writeSync(data.subarray(off, off + 131072));
      }
      f.close();
      assert.deepEqual(Deno.readFileSync(`${mp}/f`), data);
      // the host file holds what was written through the mount
      assert.deepEqual(Deno.readFileSync(`${shared}/f`), data);
    } finally {
      end = await m.unmount();
    }
    counts[String(passthrough)] = end.requests;
    Deno.removeSync(`${shared}/f`);
  }
  // 64 WRITEs of 128 KiB (and READs) reach the server only without passthrough
  assert.ok(counts["true"] < 40, `passthrough: ${counts["true"]} requests`);
  assert.ok(counts["false"] >= 64, `no passthrough: ${counts["false"]} requests`);
  Deno.removeSync(base, { recursive: true });
});
