import assert from "node:assert/strict";
import { killedRecording } from "./_killed_recording.ts";
import {
  encodeRequest,
  type FuseRequestInit,
  InitFlag,
  splitInitFlags,
} from "../codecs/fuse/mod.ts";
import { CaptureReader, type SectionBlock } from "../codecs/pcapng/mod.ts";
import { readEvents } from "../analyzers/events.ts";
import * as fs from "../sys/fs.ts";
import { createPassthrough } from "./session.ts";
import {
  createRecordingServer,
  parseSnapshotComment,
  Recorder,
  RecordingServer,
  recordingServerSpec,
  snapshotComment,
} from "./recorder.ts";

const flags = splitInitFlags(InitFlag.ASYNC_READ | InitFlag.INIT_EXT | InitFlag.DO_READDIRPLUS);
const init = (unique: bigint, minor = 45): FuseRequestInit => ({
  op: "INIT",
  header: { unique },
  body: { major: 7, minor, max_readahead: 65536, flags: flags.flags, flags2: flags.flags2 },
});

async function events(path: string) {
  const s = readEvents(path);
  const out = [];
  for await (const ev of s) out.push(ev);
  return { events: out, summary: s.summary };
}

Deno.test("recorder: a passthrough session recorded, read back with pairing, minor and channel", async () => {
  const share = await Deno.makeTempDir();
  const out = await Deno.makeTempFile({ suffix: ".pcapng" });
  try {
    await Deno.writeTextFile(`${share}/hello.txt`, "hi\n");
    const recorder = Recorder.open(out, { comment: "recorder_test" });
    const server = new RecordingServer(createPassthrough(share), recorder, {
      channel: "/dev/fuse",
      description: "test",
    });
    const send = async (r: FuseRequestInit) => await server.handle(encodeRequest(r, { minor: 31 }));
    assert.notEqual(await send(init(1n, 31)), null);
    await send({ op: "LOOKUP", header: { unique: 2n, nodeid: 1n }, body: { name: "hello.txt" } });
    await send({ op: "LOOKUP", header: { unique: 3n, nodeid: 1n }, body: { name: "missing" } });
    await send({
      op: "MKDIR",
      header: { unique: 4n, nodeid: 1n },
      body: { mode: 0o755, umask: 0o22, name: "d" },
    });
    await send({ op: "FORGET", header: { unique: 5n, nodeid: 2n }, body: { nlookup: 1n } });
    assert.equal(recorder.minor, 31);
    await server.close();
    const { events: evs, summary } = await events(out);
    assert.equal(summary.damage, undefined);
    assert.deepEqual(evs.map((e) => [e.kind, e.fuse?.op]), [
      ["fuse_request", "INIT"],
      ["fuse_reply", "INIT"],
      ["fuse_request", "LOOKUP"],
      ["fuse_reply", "LOOKUP"],
      ["fuse_request", "LOOKUP"],
      ["fuse_reply", "LOOKUP"],
      ["fuse_request", "MKDIR"],
      ["fuse_reply", "MKDIR"],
      ["fuse_request", "FORGET"],
    ]);
    assert.ok(evs.every((e) => e.channel === "/dev/fuse"));
    assert.equal(evs[0].fuse_minor, undefined); // before INIT settled
    assert.equal(evs[2].fuse_minor, 31);
    assert.equal(evs[5].fuse?.error, -2);
    assert.equal(evs[5].fuse?.request_frame, 5);
    assert.ok(evs[5].fuse!.latency_ns! >= 0n);
    for (let i = 1; i < evs.length; i++) assert.ok(evs[i].time_ns >= evs[i - 1].time_ns);
    const now = BigInt(Date.now()) * 1_000_000n;
    assert.ok(now - evs[0].time_ns < 60_000_000_000n && evs[0].time_ns <= now + 1_000_000_000n);
    assert.equal(summary.unansweredCount, 0);
    // the section names the application
    const r = new CaptureReader();
    r.push(await Deno.readFile(out));
    r.end();
    const shb = r.next() as SectionBlock;
    assert.equal(shb.userappl, "ringside");
    assert.equal(shb.comment, "recorder_test");
  } finally {
    await Deno.remove(share, { recursive: true });
    await Deno.remove(out);
  }
});

Deno.test("recorder: vhost-user messages and ring events, one interface per channel", async () => {
  const chunks: Uint8Array[] = [];
  const rec = new Recorder((c) => chunks.push(c), { flushMs: 0 });
  const control = rec.channel("vhost-user");
  const vq1 = rec.channel("vq1");
  assert.equal(rec.channel("vhost-user"), control);
  const msg = new Uint8Array(12 + 8);
  new DataView(msg.buffer).setUint32(0, 5, true); // SET_MEM_TABLE... any request code
  new DataView(msg.buffer).setUint32(4, 1, true);
  new DataView(msg.buffer).setUint32(8, 8, true);
  rec.vhostUser(control, msg, { direction: "front_to_back", fdCount: 2, timeNs: 10n });
  rec.ringKick(vq1, { queue: 1, timeNs: 11n });
  const chain = { head: 3, descriptors: 2, readableBytes: 48, writableBytes: 4096 };
  rec.ringChain(vq1, { queue: 1, chain, timeNs: 12n });
  rec.fuseRequest(vq1, encodeRequest(init(2n)), { queue: 1, chain, timeNs: 13n });
  rec.ringCall(vq1, { queue: 1, timeNs: 14n });
  rec.close();
  const s = readEvents(chunks);
  const evs = [];
  for await (const ev of s) evs.push(ev);
  assert.deepEqual(evs.map((e) => [e.kind, e.channel, e.queue, e.direction]), [
    ["vhost_user_front_to_back", "vhost-user", undefined, "inbound"],
    ["ring_kick", "vq1", 1, "inbound"],
    ["ring_chain", "vq1", 1, "inbound"],
    ["fuse_request", "vq1", 1, "inbound"],
    ["ring_call", "vq1", 1, "outbound"],
  ]);
  assert.equal(evs[0].fd_count, 2);
  assert.equal(evs[0].vhost_user?.request, 5);
  assert.deepEqual(evs[2].chain, chain);
  assert.deepEqual(evs[3].chain, chain);
  assert.deepEqual(evs.map((e) => e.time_ns), [10n, 11n, 12n, 13n, 14n]);
  assert.throws(() => rec.ringKick(vq1, { queue: 1 }), /after close/);
});

Deno.test("recorder: holds at most flushBytes and flushMs of data, in whole blocks", async () => {
  const chunks: Uint8Array[] = [];
  const rec = new Recorder((c) => chunks.push(c.slice()), { flushMs: 60, flushBytes: 4096 });
  const ch = rec.channel("c");
  const req = encodeRequest({
    op: "LOOKUP",
    header: { unique: 2n, nodeid: 1n },
    body: { name: "x".repeat(100) },
  });
  for (let i = 0; i < 200; i++) rec.fuseRequest(ch, req);
  assert.ok(rec.bufferedBytes < 4096 + 256);
  assert.ok(chunks.length >= 5);
  // every chunk is a sequence of whole blocks: lengths chain exactly to its end
  for (const c of chunks) {
    const v = new DataView(c.buffer, c.byteOffset, c.byteLength);
    let p = 0;
    while (p < c.length) p += v.getUint32(p + 4, true);
    assert.equal(p, c.length);
  }
  // a lone record is written by the timer, without close()
  const before = rec.bytesWritten;
  rec.fuseRequest(ch, req);
  assert.ok(rec.bufferedBytes > 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(rec.bufferedBytes, 0);
  assert.ok(rec.bytesWritten > before);
  rec.close();
});

Deno.test("recorder: SIGKILL leaves a file readable to its last complete block", async () => {
  const out = await Deno.makeTempFile({ suffix: ".pcapng" });
  try {
    await killedRecording(out, { flushMs: 50, flushBytes: 8192 });
    const s = readEvents(out, { onDamage: "stop" });
    let n = 0;
    for await (const ev of s) {
      assert.equal(ev.error, undefined);
      assert.equal(ev.fuse?.op, "READ");
      n++;
    }
    const damage = s.summary.damage;
    if (damage !== undefined) {
      // a write the kill cut short (the kernel stops between pages on a fatal
      // signal): only the file's last block may be incomplete
      const cut = /the input ends (\d+) bytes into a block/.exec(damage.reason);
      const size = (await Deno.stat(out)).size;
      assert.ok(cut !== null && damage.offset + Number(cut[1]) === size, damage.message);
    }
    assert.ok(n > 10, `only ${n} records survived`);
  } finally {
    await Deno.remove(out);
  }
});

Deno.test("recorder: createRecordingServer from a spec; sessions share the file", async () => {
  const share = await Deno.makeTempDir();
  const out = `${share}.pcapng`;
  try {
    const inner = {
      module: new URL("./mod.ts", import.meta.url).href,
      factory: "createPassthrough",
      args: [share, { cache: "never" }],
    };
    const spec = recordingServerSpec(inner, { path: out, channel: "unix:/tmp/fs.sock" });
    const spec2 = structuredClone(spec);
    const mod = await import(spec.module);
    const a = await mod[spec.factory](...spec.args) as RecordingServer;
    const b = await createRecordingServer(spec2.args[0] as typeof inner, spec2.args[1] as never);
    await a.handle(encodeRequest(init(1n)));
    await b.handle(encodeRequest(init(1n)));
    await a.close();
    await b.handle(
      encodeRequest({
        op: "GETATTR",
        header: { unique: 3n, nodeid: 1n },
        body: { getattr_flags: 0, dummy: 0, fh: 0n },
      }),
    );
    await b.close();
    const { events: evs } = await events(out);
    assert.deepEqual(evs.map((e) => `${e.channel} ${e.kind} ${e.fuse?.op}`), [
      "unix:/tmp/fs.sock fuse_request INIT",
      "unix:/tmp/fs.sock fuse_reply INIT",
      "unix:/tmp/fs.sock#2 fuse_request INIT",
      "unix:/tmp/fs.sock#2 fuse_reply INIT",
      "unix:/tmp/fs.sock#2 fuse_request GETATTR",
      "unix:/tmp/fs.sock#2 fuse_reply GETATTR",
    ]);
  } finally {
    await Deno.remove(share, { recursive: true });
    await Deno.remove(out).catch(() => {});
  }
});

Deno.test("recorder: the snapshot reference round-trips through the section comment", async () => {
  const ref = { path: "s.pcapng.snapshot", manifestSha256: "ab".repeat(32) };
  assert.deepEqual(parseSnapshotComment(snapshotComment(ref)), ref);
  assert.deepEqual(parseSnapshotComment(`hello\n${snapshotComment(ref)}`), ref);
  assert.equal(parseSnapshotComment("just a comment"), undefined);
  const chunks: Uint8Array[] = [];
  new Recorder((c) => chunks.push(c), { snapshot: ref, flushMs: 0 }).close();
  const r = new CaptureReader();
  for (const c of chunks) r.push(c);
  r.end();
  const shb = r.next() as SectionBlock;
  assert.deepEqual(parseSnapshotComment(shb.comment), ref);
  await Promise.resolve();
});

Deno.test("recorder: a later session on the same path appends a section", async () => {
  const share = await Deno.makeTempDir();
  const out = `${share}.pcapng`;
  try {
    const inner = {
      module: new URL("./mod.ts", import.meta.url).href,
      factory: "createPassthrough",
      args: [share, {}],
    };
    for (let guest = 0; guest < 2; guest++) {
      const s = await createRecordingServer(inner, { path: out, channel: "virtio-fs" });
      await s.handle(encodeRequest(init(1n)));
      await s.close();
    }
    const r = new CaptureReader();
    r.push(await Deno.readFile(out));
    r.end();
    const kinds: string[] = [];
    for (let b = r.next(); b !== undefined; b = r.next()) kinds.push(b.kind);
    assert.deepEqual(kinds, [
      "section",
      "interface",
      "packet",
      "packet",
      "section",
      "interface",
      "packet",
      "packet",
    ]);
    const { events: evs } = await events(out);
    assert.deepEqual(evs.map((e) => `${e.channel} ${e.kind} ${e.fuse?.op}`), [
      "virtio-fs fuse_request INIT",
      "virtio-fs fuse_reply INIT",
      "virtio-fs fuse_request INIT",
      "virtio-fs fuse_reply INIT",
    ]);
  } finally {
    await Deno.remove(share, { recursive: true });
    await Deno.remove(out).catch(() => {});
  }
});

/** A directory on a file system that takes O_DIRECT writes (not tmpfs), or undefined. */
function directIoDir(): string | undefined {
  for (const dir of ["/var/tmp", Deno.cwd()]) {
    const probe = `${dir}/.ringside-direct-probe-${Deno.pid}`;
    try {
      Deno.writeFileSync(probe, new Uint8Array(0));
      const fd = fs.openat(fs.AT_FDCWD, probe, { flags: fs.O_WRONLY | fs.O_DIRECT });
      try {
        fs.pwrite(fd, fs.alignedBytes(4096), 0);
        return dir;
      } finally {
        fs.close(fd);
      }
    } catch {
      // not here
    } finally {
      try {
        Deno.removeSync(probe);
      } catch {
        // never made
      }
    }
  }
  return undefined;
}

/** Records `n` 4 KiB replies with an outsize (3 MiB) one in the middle; returns what it wrote. */
async function recordWithOutsize(path: string, options: { directIo?: boolean; append?: boolean }) {
  const r = Recorder.open(path, { ...options, flushMs: 20 });
  const ch = r.channel("vq1");
  const sizes: number[] = [];
  const reply = (size: number, fill: number) => {
    const b = new Uint8Array(size).fill(fill);
    const v = new DataView(b.buffer);
    v.setUint32(0, size, true);
    v.setBigUint64(8, BigInt(sizes.length + 1), true);
    r.fuseReply(ch, b, { queue: 1 });
    sizes.push(size);
  };
  for (let i = 0; i < 3000; i++) reply(16 + 4096 + (i % 7), i & 0xff);
  // the writer thread settles its mode once it runs; an outsize block ends direct I/O
  for (let t = 0; options.directIo && !r.directIo && t < 100; t++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const direct = r.directIo;
  reply(3 << 20, 0x42);
  for (let i = 0; i < 500; i++) reply(16 + 4096 + (i % 5), i & 0xff);
  assert.equal(r.directIo, false, "an outsize block ends direct I/O");
  r.close();
  return { sizes, direct };
}

async function replySizes(path: string): Promise<number[][]> {
  const r = new CaptureReader();
  r.push(await Deno.readFile(path));
  r.end();
  const sections: number[][] = [];
  for (let b = r.next(); b !== undefined; b = r.next()) {
    if (b.kind === "section") sections.push([]);
    if (b.kind === "packet") sections[sections.length - 1].push(b.data.length);
  }
  return sections;
}

Deno.test("recorder: an outsize block (larger than a ring chunk) lands in order, in a new file and an appended section", async () => {
  const out = await Deno.makeTempFile({ suffix: ".pcapng" });
  try {
    const first = await recordWithOutsize(out, {});
    const second = await recordWithOutsize(out, { append: true });
    const sections = await replySizes(out);
    assert.equal(sections.length, 2);
    const prefix = sections[0][0] - first.sizes[0];
    assert.deepEqual(sections[0].map((n) => n - prefix), first.sizes);
    assert.deepEqual(sections[1].map((n) => n - prefix), second.sizes);
  } finally {
    await Deno.remove(out);
  }
});

Deno.test("recorder: directIo writes the same capture with O_DIRECT where the file system allows it", async () => {
  const dir = directIoDir();
  const paths: string[] = [];
  try {
    const buffered = await Deno.makeTempFile({ suffix: ".pcapng" });
    paths.push(buffered);
    assert.equal((await recordWithOutsize(buffered, {})).direct, false);
    const want = await replySizes(buffered);
    if (dir === undefined) {
      if (Deno.env.get("CI")) throw new Error("no file system here takes O_DIRECT writes");
      console.warn("SKIPPED the O_DIRECT half: no file system here takes O_DIRECT writes");
      return;
    }
    const out = await Deno.makeTempFile({ dir, suffix: ".pcapng" });
    paths.push(out);
    // a first section, then one appended onto an unaligned end, both direct
    const a = Recorder.open(out, { directIo: true, flushMs: 20 });
    const ch = a.channel("vq1");
    for (let i = 0; i < 2000; i++) a.fuseReply(ch, new Uint8Array(16 + 4096 + (i % 3)), {});
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(a.directIo, true, "the writer writes with O_DIRECT");
    // mid-recording the file holds whole blocks only: its length is exact, not page-rounded
    const mid = await replySizes(out);
    assert.ok(mid[0].length > 0);
    a.close();
    const size = Deno.statSync(out).size;
    assert.notEqual(size % 4096, 0, "the file is cut back to its true length");
    const again = await recordWithOutsize(out, { directIo: true, append: true });
    assert.equal(again.direct, true);
    const got = await replySizes(out);
    assert.equal(got.length, 2);
    assert.equal(got[0].length, 2000);
    assert.deepEqual(got[1], want[0], "the direct section matches the buffered one");
  } finally {
    for (const p of paths) await Deno.remove(p).catch(() => {});
  }
});
