/**
 * What recording costs: the same workload with and without the recorder.
 *
 *   deno bench -A bench/record_bench.ts
 *
 * - `in-process`: 200 requests per iteration (LOOKUP, GETATTR, 4 KiB READ,
 *   4 KiB WRITE, in turn) straight into `createPassthrough`, the same
 *   through a `RecordingServer` writing a pcapng file in /tmp (the writer
 *   thread writes it), and through a `RecordingServer` whose recorder hands
 *   its blocks to a sink that drops them (what encoding the records costs,
 *   without the file).
 * - `/dev/fuse` (root with /dev/fuse only): 50 rounds per iteration of
 *   stat + 4 KiB read + 4 KiB write through a kernel mount served by the
 *   reader Worker (cache never, so every call reaches the server), plain and
 *   with `recordingServerSpec`.
 * - `unix`: 50 rounds per iteration of GETATTR + 4 KiB READ + 4 KiB WRITE,
 *   one request in flight, through a Unix socket to `ringside serve
 *   --transport unix` processes (cache never), one plain and one with
 *   `--record` (the capture in /tmp).
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
const encodeOnly = new RecordingServer(
  createPassthrough(share),
  new Recorder(() => {}, { flushMs: Infinity }),
  { channel: "bench" },
);
const encodeOnlyWork = setUp(encodeOnly);

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

Deno.bench({
  name: "in-process: 200 requests, records encoded, blocks dropped",
  group: "in-process",
  fn() {
    for (const r of encodeOnlyWork) encodeOnly.handle(r);
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

/** A Renode-framed client of `ringside serve --transport unix`: one request in flight. */
class UnixClient {
  #conn: Deno.UnixConn;
  #header = new Uint8Array(16);
  #body = new Uint8Array(8192);
  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }
  static async connect(path: string, timeoutMs = 15000): Promise<UnixClient> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      try {
        return new UnixClient(await Deno.connect({ transport: "unix", path }));
      } catch (e) {
        if (performance.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  async #read(into: Uint8Array): Promise<void> {
    let got = 0;
    while (got < into.length) {
      const n = await this.#conn.read(into.subarray(got));
      if (n === null) throw new Error("ringside serve closed the connection");
      got += n;
    }
  }
  /** Sends `req`, reads its reply; returns the reply's error field. */
  async call(req: Uint8Array): Promise<number> {
    let done = 0;
    while (done < req.length) done += await this.#conn.write(req.subarray(done));
    await this.#read(this.#header);
    const v = new DataView(this.#header.buffer);
    const len = v.getUint32(0, true);
    if (len > 16) await this.#read(this.#body.subarray(0, len - 16));
    return v.getInt32(4, true);
  }
  /** The 8 bytes at `at` of the last reply's body. */
  u64(at: number): bigint {
    return new DataView(this.#body.buffer).getBigUint64(at, true);
  }
  close(): void {
    this.#conn.close();
  }
}

async function unixServe(record: boolean) {
  const socket = `${share}.${record ? "rec" : "plain"}.sock`;
  const capture = `${share}.unix.pcapng`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../cli/main.ts", import.meta.url).pathname,
      "serve",
      "--transport",
      "unix",
      "--socket",
      socket,
      "--shared-dir",
      share,
      "--cache",
      "never",
      ...(record ? ["--record", capture] : []),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const client = await UnixClient.connect(socket);
  const req = (r: FuseRequestInit) => encodeRequest(r);
  await client.call(req({
    op: "INIT",
    header: { unique: 1n },
    body: { major: 7, minor: 45, max_readahead: 1 << 20, flags: 0, flags2: 0 },
  }));
  if (
    await client.call(
      req({ op: "LOOKUP", header: { unique: 2n, nodeid: 1n }, body: { name: "data.bin" } }),
    ) !== 0
  ) {
    throw new Error("unix: LOOKUP data.bin failed");
  }
  const nodeid = client.u64(0);
  if (
    await client.call(
      req({ op: "OPEN", header: { unique: 3n, nodeid }, body: { flags: 2, open_flags: 0 } }),
    ) !== 0
  ) {
    throw new Error("unix: OPEN failed");
  }
  const fh = client.u64(0);
  const data = new Uint8Array(4096).fill(1);
  const work: Uint8Array[] = [];
  for (let i = 0; i < 50; i++) {
    const u = BigInt(10 + i * 8);
    const offset = BigInt((i % 64) * 4096);
    work.push(req({
      op: "GETATTR",
      header: { unique: u, nodeid },
      body: { getattr_flags: 0, dummy: 0, fh: 0n },
    }));
    work.push(req({
      op: "READ",
      header: { unique: u + 2n, nodeid },
      body: { fh, offset, size: 4096, read_flags: 0, lock_owner: 0n, flags: 2, padding: 0 },
    }));
    work.push(req({
      op: "WRITE",
      header: { unique: u + 4n, nodeid },
      body: {
        fh,
        offset,
        size: 4096,
        write_flags: 0,
        lock_owner: 0n,
        flags: 2,
        padding: 0,
        data,
      },
    }));
  }
  return { child, client, work, capture };
}

const unixPlain = await unixServe(false);
const unixRecorded = await unixServe(true);
for (
  const [name, u, baseline] of [["no recording", unixPlain, true], [
    "recorded to pcapng",
    unixRecorded,
    false,
  ]] as const
) {
  Deno.bench({
    name: `unix: 50 x (GETATTR, 4 KiB READ, 4 KiB WRITE), ${name}`,
    group: "unix",
    baseline,
    async fn() {
      for (const r of u.work) {
        if (await u.client.call(r) !== 0) throw new Error("unix: request failed");
      }
    },
  });
}

globalThis.addEventListener("unload", () => {
  for (const u of [unixPlain, unixRecorded]) {
    u.client.close();
    try {
      u.child.kill("SIGTERM");
    } catch {
      // gone already
    }
  }
  try {
    Deno.removeSync(unixRecorded.capture);
  } catch {
    // not written
  }
  recorded.recorder.close();
  encodeOnly.recorder.close();
  Deno.removeSync(share, { recursive: true });
  Deno.removeSync(capturePath);
});
