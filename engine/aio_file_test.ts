import assert from "node:assert/strict";
import { type CaptureEvent, readEvents } from "../analyzers/events.ts";
import { encodeRequest } from "../codecs/fuse/mod.ts";
import {
  BLOCK_RINGSIDE_PADDING,
  PcapngReader,
  RECORD_PREFIX_LENGTH,
} from "../codecs/pcapng/mod.ts";
import { peerTest } from "../testing/peers.ts";
import { Recorder } from "./recorder.ts";
import { AioFile } from "./_aio_file.ts";
import { killedRecording as killedChild } from "./_killed_recording.ts";

const PAGE = 4096;
/** A Recorder option set that writes through AIO, flushing every few KiB so that padding blocks come often. */
const DIRECT = { writerThread: false, directIo: true, flushBytes: 4096, flushMs: 60_000 } as const;

/** A WRITE request of `size` data bytes whose content depends on `unique`. */
function writeRequest(unique: bigint, size: number): Uint8Array {
  const data = new Uint8Array(size);
  const seed = Number(unique % 251n);
  for (let i = 0; i < size; i++) data[i] = (seed + i * 13 + (i >> 9)) & 0xff;
  return encodeRequest({
    op: "WRITE",
    header: { unique, nodeid: 5n },
    body: {
      fh: 1n,
      offset: 0n,
      size,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data,
    },
  });
}

/** Varied sizes, ending blocks anywhere in a page, some larger than a 4 KiB flush. */
function sizeOf(i: number): number {
  return (i * 389) % 9000;
}

/**
 * Records `count` WRITE requests with uniques from `first` on; returns the
 * requests. The last one is small and recorded after a flush, so that it is
 * still held at close (the last write then ends mid-page).
 */
function recordWrites(rec: Recorder, count: number, first = 2n): Uint8Array[] {
  const ch = rec.channel("/dev/fuse");
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const msg = writeRequest(first + BigInt(i), i === count - 1 ? 100 : sizeOf(i));
    if (i === count - 1) rec.flush();
    rec.fuseRequest(ch, msg);
    out.push(msg);
  }
  assert.ok(rec.bufferedBytes > 0);
  return out;
}

async function events(path: string) {
  const s = readEvents(path, { onDamage: "stop" });
  const evs: CaptureEvent[] = [];
  for await (const ev of s) evs.push({ ...ev, bytes: ev.bytes.slice(), error: ev.error });
  return { events: evs, summary: s.summary };
}

/** Every block of the file: type, offset and length, read with the project's reader. */
async function blocksOf(path: string): Promise<{ type: number; offset: number; length: number }[]> {
  const r = new PcapngReader();
  r.push(await Deno.readFile(path));
  r.end();
  const out: { type: number; offset: number; length: number }[] = [];
  let last = r.offset;
  for (let b = r.next(); b !== undefined; b = r.next()) {
    const type = b.kind === "section"
      ? 0x0a0d0d0a
      : b.kind === "interface"
      ? 1
      : b.kind === "packet"
      ? 6
      : b.blockType;
    out.push({ type, offset: b.offset, length: 0 });
    if (out.length > 1) out[out.length - 2].length = b.offset - out[out.length - 2].offset;
    last = r.offset;
  }
  if (out.length > 0) out[out.length - 1].length = last - out[out.length - 1].offset;
  assert.equal(r.zeroTailBytes, 0);
  return out;
}

function assertWrites(evs: CaptureEvent[], sent: Uint8Array[], first = 2n): void {
  assert.equal(evs.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    const ev = evs[i];
    assert.equal(ev.error, undefined, `frame ${ev.frame}: ${ev.error?.message}`);
    assert.equal(ev.kind, "fuse_request");
    assert.equal(ev.fuse?.op, "WRITE");
    assert.equal(ev.fuse?.unique, first + BigInt(i));
    assert.deepEqual(ev.bytes, sent[i], `frame ${ev.frame}: the recorded bytes differ`);
  }
}

async function varTmp(): Promise<string> {
  return await Deno.makeTempFile({ dir: "/var/tmp", prefix: "ringside-aio-", suffix: ".pcapng" });
}

Deno.test("aio file: records read back in order and whole; the file ends at its last block; padding fills each write to a page", async () => {
  const path = await varTmp();
  try {
    const rec = Recorder.open(path, DIRECT);
    assert.equal(rec.directIo, true);
    const sent = recordWrites(rec, 600);
    const stats = { ...rec.aioStats! };
    rec.close();
    const { events: evs, summary } = await events(path);
    assert.equal(summary.damage, undefined, summary.damage?.message);
    assert.equal(summary.zeroTailBytes, 0);
    assertWrites(evs, sent);
    // exact length: no zeros from the last page or the preallocation left at the end
    const size = (await Deno.stat(path)).size;
    assert.equal(size, rec.bytesWritten + rec.aioStats!.paddingBytes);
    const blocks = await blocksOf(path);
    const last = blocks[blocks.length - 1];
    assert.equal(last.offset + last.length, size);
    assert.equal(last.type, 6, "the file ends with a packet, not padding or zeros");
    // padding blocks between records, each ending a write at a page boundary
    const padding = blocks.filter((b) => b.type === BLOCK_RINGSIDE_PADDING);
    assert.ok(stats.writes > 100, `${stats.writes} writes`);
    assert.ok(padding.length > 100, `${padding.length} padding blocks`);
    for (const p of padding) {
      assert.equal((p.offset + p.length) % PAGE, 0, `padding at ${p.offset} ends mid-page`);
      assert.ok(p.offset + p.length < size, "padding mid-file");
    }
    assert.equal(padding.reduce((n, p) => n + p.length, 0), rec.aioStats!.paddingBytes);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("aio file: append adds a section after one that ended mid-page; both read back", async () => {
  const path = await varTmp();
  try {
    const a = Recorder.open(path, DIRECT);
    const first = recordWrites(a, 57);
    a.close();
    const firstSize = (await Deno.stat(path)).size;
    assert.notEqual(firstSize % PAGE, 0, "the first section should end mid-page for this test");
    const b = Recorder.open(path, { ...DIRECT, append: true });
    assert.equal(b.directIo, true);
    const second = recordWrites(b, 203, 1000n);
    b.close();
    const { events: evs, summary } = await events(path);
    assert.equal(summary.damage, undefined, summary.damage?.message);
    assert.equal(summary.zeroTailBytes, 0);
    assertWrites(evs.filter((e) => e.section === 0), first);
    assertWrites(evs.filter((e) => e.section === 1), second, 1000n);
    const blocks = await blocksOf(path);
    const sections = blocks.filter((x) => x.type === 0x0a0d0d0a).map((x) => x.offset);
    assert.deepEqual(sections, [0, firstSize], "the second section starts where the first ended");
    const last = blocks[blocks.length - 1];
    assert.equal(last.offset + last.length, (await Deno.stat(path)).size);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("aio file: a block larger than a chunk (3 MiB) is written between small ones", async () => {
  const path = await varTmp();
  try {
    const rec = Recorder.open(path, DIRECT);
    const ch = rec.channel("/dev/fuse");
    const sent = [writeRequest(2n, 100), writeRequest(3n, 3 << 20), writeRequest(4n, 5000)];
    for (const m of sent) rec.fuseRequest(ch, m);
    rec.close();
    const { events: evs, summary } = await events(path);
    assert.equal(summary.damage, undefined, summary.damage?.message);
    assert.equal(evs.length, 3);
    for (let i = 0; i < 3; i++) {
      assert.equal(evs[i].fuse?.unique, 2n + BigInt(i));
      assert.deepEqual(evs[i].bytes, sent[i], `frame ${i + 1}`);
    }
    const blocks = await blocksOf(path);
    const last = blocks[blocks.length - 1];
    assert.equal(last.offset + last.length, (await Deno.stat(path)).size);
  } finally {
    await Deno.remove(path);
  }
});

peerTest("aio file: tshark reads the file, padding blocks and all, and counts every packet", {
  needs: ["tshark"],
}, async () => {
  const path = await varTmp();
  try {
    const rec = Recorder.open(path, DIRECT);
    const ch = rec.channel("/dev/fuse");
    const N = 400;
    for (let i = 0; i < N; i++) {
      // under tshark's 256 KiB packet limit, some spanning pages
      rec.fuseRequest(ch, writeRequest(2n + BigInt(i), i % 50 === 0 ? 200_000 : sizeOf(i)));
    }
    rec.close();
    assert.ok(rec.aioStats!.paddingBytes > 0);
    const out = await new Deno.Command("/usr/bin/tshark", {
      args: ["-r", path, "-T", "fields", "-e", "frame.number", "-e", "frame.len"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).split("\n")
      .filter((l) => l.trim() !== "" && !/^Running as user "root"/.test(l));
    assert.equal(out.code, 0, stderr.join("\n"));
    assert.deepEqual(stderr, []);
    const lines = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    assert.equal(lines.length, N);
    assert.equal(lines[N - 1].split("\t")[0], String(N));
    const { events: evs } = await events(path);
    assert.deepEqual(
      lines.map((l) => Number(l.split("\t")[1])),
      evs.map((e) => e.bytes.length + RECORD_PREFIX_LENGTH),
    );
  } finally {
    await Deno.remove(path);
  }
});

/** A recording through AIO killed with SIGKILL mid-stream (READs with uniques 2, 4, 6, ...; the recorder must have used O_DIRECT). */
async function killedRecording(path: string): Promise<void> {
  const { directIo } = await killedChild(path, {
    writerThread: false,
    directIo: true,
    flushMs: 50,
    flushBytes: 8192,
  });
  assert.equal(directIo, true, "the killed recorder wrote with O_DIRECT");
}

Deno.test("aio file: SIGKILL leaves every submitted write, then preallocated zeros that read as a clean end", async () => {
  const out = await varTmp();
  try {
    await killedRecording(out);
    const s = readEvents(out, { onDamage: "stop" });
    let n = 0;
    let unique = 2n;
    for await (const ev of s) {
      assert.equal(ev.error, undefined);
      assert.equal(ev.fuse?.op, "READ");
      // no write lost in the middle: the uniques run on without a gap
      assert.equal(ev.fuse?.unique, unique, `frame ${ev.frame}`);
      unique += 2n;
      n++;
    }
    assert.equal(s.summary.damage, undefined, s.summary.damage?.message);
    assert.ok(n > 100, `only ${n} records survived`);
    const size = (await Deno.stat(out)).size;
    assert.ok(s.summary.zeroTailBytes > 0, "no preallocated tail");
    assert.equal(s.summary.zeroTailBytes % PAGE, 0, "writes end on page boundaries");
    assert.equal(s.summary.bytesRead, size);
  } finally {
    await Deno.remove(out);
  }
});

peerTest("aio file: tshark reads every packet of a recording killed by SIGKILL", {
  needs: ["tshark"],
}, async () => {
  const out = await varTmp();
  try {
    await killedRecording(out);
    const s = readEvents(out, { onDamage: "stop" });
    let n = 0;
    for await (const _ of s) n++;
    assert.ok(s.summary.zeroTailBytes > 0);
    const r = await new Deno.Command("/usr/bin/tshark", {
      args: ["-r", out, "-T", "fields", "-e", "frame.number"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    // (tshark 4.0 exits 2 and calls the zero tail a block "of an unknown block type" too short:
    // it has read every packet by then)
    const lines = new TextDecoder().decode(r.stdout).trimEnd().split("\n");
    assert.equal(lines.length, n);
    assert.equal(lines[n - 1], String(n));
  } finally {
    await Deno.remove(out);
  }
});

Deno.test("aio file: on tmpfs (/dev/shm) the recorder writes as without directIo", async () => {
  const path = await Deno.makeTempFile({ dir: "/dev/shm", prefix: "ringside-aio-" });
  try {
    const rec = Recorder.open(path, DIRECT);
    assert.equal(rec.directIo, false);
    assert.equal(rec.aioStats, undefined);
    const sent = recordWrites(rec, 300);
    rec.close();
    const { events: evs, summary } = await events(path);
    assert.equal(summary.damage, undefined, summary.damage?.message);
    assertWrites(evs, sent);
    const blocks = await blocksOf(path);
    assert.equal(blocks.filter((b) => b.type === BLOCK_RINGSIDE_PADDING).length, 0);
    assert.equal((await Deno.stat(path)).size, rec.bytesWritten);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("aio file: many chunks larger than the pool's in a row stay within the AIO depth", async () => {
  const path = await varTmp();
  try {
    // two pooled chunks (AIO depth 3): every chunk asked for below is a one-off
    // buffer, outside the pool whose size bounds the writes in flight
    const f = AioFile.open(path, { chunks: 2, chunkBytes: 8192 })!;
    assert.ok(f !== null);
    const size = 256 * 1024;
    let c = f.submit(0, size);
    for (let i = 0; i < 60; i++) {
      c.fill(i + 1, 0, size);
      c = f.submit(size, size);
    }
    f.close(0);
    assert.equal(f.stats.writes, 60);
    const bytes = await Deno.readFile(path);
    assert.equal(bytes.length, 60 * size);
    for (let i = 0; i < 60; i++) {
      assert.equal(bytes[i * size], i + 1);
      assert.equal(bytes[(i + 1) * size - 1], i + 1);
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("aio file: appending to a killed recording starts after its last block, not after its zeros", async () => {
  const out = await varTmp();
  try {
    await killedRecording(out);
    const before = readEvents(out, { onDamage: "stop" });
    let n = 0;
    for await (const _ of before) n++;
    assert.ok(before.summary.zeroTailBytes > 0, "the killed recording should end in zeros");
    const rec = Recorder.open(out, { ...DIRECT, append: true });
    assert.equal(rec.directIo, true);
    const sent = recordWrites(rec, 20, 5000n);
    rec.close();
    const { events: evs, summary } = await events(out);
    assert.equal(summary.damage, undefined, summary.damage?.message);
    assert.equal(summary.zeroTailBytes, 0);
    assert.equal(evs.filter((e) => e.section === 0).length, n);
    assertWrites(evs.filter((e) => e.section === 1), sent, 5000n);
  } finally {
    await Deno.remove(out);
  }
});
