/**
 * What recording costs: the same workload with and without the recorder.
 *
 *   deno bench -A bench/record_bench.ts
 *
 * - `in-process`: 200 requests per iteration (LOOKUP, GETATTR, 4 KiB READ,
 *   4 KiB WRITE, in turn) straight into `createPassthrough`, and the same
 *   through a `RecordingServer` writing a pcapng file in /tmp.
 * - `/dev/fuse` (root with /dev/fuse only): 50 rounds per iteration of
 *   stat + 4 KiB read + 4 KiB write through a kernel mount served by the
 *   reader Worker (cache never, so every call reaches the server), plain and
 *   with `recordingServerSpec`.
 *
 * The target is at most 5% slower with recording (compare the group's
 * baseline row).
 *
 * @module
 */
import { encodeRequest, type FuseRequestInit } from "../codecs/fuse/mod.ts";
import { createPassthrough, type PassthroughServer } from "../engine/session.ts";
import { Recorder, RecordingServer, recordingServerSpec } from "../engine/recorder.ts";
import { mountDevFuse, passthroughSpec } from "../transports/mod.ts";
import { peerMissing } from "../testing/peers.ts";
import type { FuseServer } from "../engine/types.ts";

const share = await Deno.makeTempDir({ prefix: "ringside-record-bench-" });
await Deno.writeFile(`${share}/data.bin`, new Uint8Array(1 << 20).fill(7));

function init(server: FuseServer): void {
  server.handle(encodeRequest({
    op: "INIT",
    header: { unique: 1n },
    body: { major: 7, minor: 45, max_readahead: 1 << 20, flags: 0, flags2: 0 },
  }));
}

function nodeOf(server: FuseServer): bigint {
  const reply = server.handle(encodeRequest({
    op: "LOOKUP",
    header: { unique: 2n, nodeid: 1n },
    body: { name: "data.bin" },
  })) as Uint8Array;
  return new DataView(reply.buffer, reply.byteOffset).getBigUint64(16, true);
}

function openFh(server: FuseServer, nodeid: bigint): bigint {
  const reply = server.handle(encodeRequest({
    op: "OPEN",
    header: { unique: 3n, nodeid },
    body: { flags: 2, open_flags: 0 },
  })) as Uint8Array;
  return new DataView(reply.buffer, reply.byteOffset).getBigUint64(16, true);
}

/** Pre-encoded requests for one iteration (encoding is not what is measured). */
function workload(nodeid: bigint, fh: bigint): Uint8Array[] {
  const data = new Uint8Array(4096).fill(1);
  const reqs: FuseRequestInit[] = [];
  for (let i = 0; i < 50; i++) {
    const u = BigInt(10 + i * 8);
    reqs.push({ op: "LOOKUP", header: { unique: u, nodeid: 1n }, body: { name: "data.bin" } });
    reqs.push({
      op: "GETATTR",
      header: { unique: u + 2n, nodeid },
      body: { getattr_flags: 0, dummy: 0, fh: 0n },
    });
    reqs.push({
      op: "READ",
      header: { unique: u + 4n, nodeid },
      body: {
        fh,
        offset: BigInt((i % 64) * 4096),
        size: 4096,
        read_flags: 0,
        lock_owner: 0n,
        flags: 2,
        padding: 0,
      },
    });
    reqs.push({
      op: "WRITE",
      header: { unique: u + 6n, nodeid },
      body: {
        fh,
        offset: BigInt((i % 64) * 4096),
        size: 4096,
        write_flags: 0,
        lock_owner: 0n,
        flags: 2,
        padding: 0,
        data,
      },
    });
  }
  return reqs.map((r) => encodeRequest(r));
}

function setUp(server: FuseServer): Uint8Array[] {
  init(server);
  const node = nodeOf(server);
  return workload(node, openFh(server, node));
}

const plain: PassthroughServer = createPassthrough(share);
const plainWork = setUp(plain);
const capturePath = `${share}.pcapng`;
const recorded = new RecordingServer(createPassthrough(share), Recorder.open(capturePath), {
  channel: "bench",
});
const recordedWork = setUp(recorded);

Deno.bench({
  name: "in-process: 200 requests, no recording",
  group: "in-process",
  baseline: true,
  fn() {
    for (const r of plainWork) plain.handle(r);
  },
});

Deno.bench({
  name: "in-process: 200 requests, recorded to pcapng",
  group: "in-process",
  fn() {
    for (const r of recordedWork) recorded.handle(r);
  },
});

const fuseOk = peerMissing("fuse") === undefined;

async function kernelMount(record: boolean) {
  const mnt = await Deno.makeTempDir({ prefix: "ringside-record-bench-mnt-" });
  const inner = passthroughSpec(share, { cache: "never" });
  const spec = record
    ? recordingServerSpec(inner, { path: `${mnt}.pcapng`, channel: "/dev/fuse" })
    : inner;
  const mount = await mountDevFuse(mnt, spec, { fsname: "ringside-bench" });
  const file = await Deno.open(`${mnt}/data.bin`, { read: true, write: true });
  return { mnt, mount, file };
}

if (fuseOk) {
  const a = await kernelMount(false);
  const b = await kernelMount(true);
  const buf = new Uint8Array(4096);
  const round = (m: { mnt: string; file: Deno.FsFile }) => {
    for (let i = 0; i < 50; i++) {
      Deno.statSync(`${m.mnt}/data.bin`);
      m.file.seekSync((i % 64) * 4096, Deno.SeekMode.Start);
      m.file.readSync(buf);
      m.file.seekSync((i % 64) * 4096, Deno.SeekMode.Start);
      m.file.writeSync(buf);
    }
  };
  Deno.bench({
    name: "/dev/fuse: 50 x (stat, 4 KiB read, 4 KiB write), no recording",
    group: "dev-fuse",
    baseline: true,
    fn() {
      round(a);
    },
  });
  Deno.bench({
    name: "/dev/fuse: 50 x (stat, 4 KiB read, 4 KiB write), recorded to pcapng",
    group: "dev-fuse",
    fn() {
      round(b);
    },
  });
  globalThis.addEventListener("unload", () => {
    for (const m of [a, b]) {
      m.file.close();
      new Deno.Command("umount", { args: ["-l", m.mnt] }).outputSync();
    }
  });
} else {
  console.warn(`bench/record_bench.ts: /dev/fuse rows skipped: ${peerMissing("fuse")}`);
}

globalThis.addEventListener("unload", () => {
  recorded.recorder.close();
  Deno.removeSync(share, { recursive: true });
  Deno.removeSync(capturePath);
});
