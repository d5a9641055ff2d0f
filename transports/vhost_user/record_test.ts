/**
 * Recording the vhost-user back-end (`startVhostUserBackend`'s `record`):
 * driven by the test front-end, the capture holds one channel per virtqueue
 * and one for the control socket, FUSE requests and replies with their
 * queue and chain, kicks with the eventfd counter, calls, chains returned
 * used (a malformed one flagged with what was wrong), and the control
 * messages both ways with fd counts; `check` reports the malformed chain and
 * nothing else. A second front-end gets its own pcapng section.
 */
import assert from "node:assert/strict";
import { FrontendRequest } from "../../codecs/vhost_user/mod.ts";
import { RECORD_FLAG_MALFORMED } from "../../codecs/pcapng/mod.ts";
import { type CaptureEvent, collectCheck, readEvents } from "../../analyzers/mod.ts";
import { recorderSpec } from "../../engine/recorder.ts";
import { startVhostUserBackend } from "./backend.ts";
import { VhostUserFrontend } from "./frontend.ts";
import { fuseCall, fuseRequest, INIT_BODY } from "./_fuse_client.ts";

const VIRTQ_DESC_F_NEXT = 1;
const VIRTQ_DESC_F_WRITE = 2;

type Ev = Pick<
  CaptureEvent,
  | "frame"
  | "time_ns"
  | "channel"
  | "kind"
  | "direction"
  | "queue"
  | "fuse_minor"
  | "fd_count"
  | "chain"
  | "record_flags"
  | "malformation"
  | "fuse"
  | "vhost_user"
  | "bytes"
>;

async function readAll(path: string): Promise<Ev[]> {
  const out: Ev[] = [];
  // events may be lazy views: keep what the test reads
  for await (const ev of readEvents(path)) {
    out.push({
      frame: ev.frame,
      time_ns: ev.time_ns,
      channel: ev.channel,
      kind: ev.kind,
      direction: ev.direction,
      queue: ev.queue,
      fuse_minor: ev.fuse_minor,
      fd_count: ev.fd_count,
      chain: ev.chain,
      record_flags: ev.record_flags,
      malformation: ev.malformation,
      fuse: ev.fuse,
      vhost_user: ev.vhost_user,
      bytes: ev.bytes.slice(),
    });
  }
  return out;
}

Deno.test("record: per-queue channels, ring events, control messages and a malformed chain that check reports", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringside-vu-rec-" });
  const socket = `${dir}.sock`;
  const capture = `${dir}.pcapng`;
  await Deno.writeTextFile(`${dir}/hello`, "hi");
  const logs: string[] = [];
  const backend = await startVhostUserBackend(socket, dir, {
    log: (l) => logs.push(l),
    record: recorderSpec(capture, { flushMs: 50 }),
    // no ring polling: every request is kicked (the kicks are counted below)
    // and a chain published, then broken, is seen only at its kick
    spinMicroseconds: 0,
  });
  try {
    const fe = await VhostUserFrontend.connect(socket);
    const dev = await fe.setUp({ indirect: false });
    const q = dev.queues[1];
    assert.equal((await fuseCall(q, "INIT", 0n, INIT_BODY)).reply?.header.error, 0);
    assert.equal((await fuseCall(q, "LOOKUP", 1n, { name: "hello" })).reply?.header.error, 0);
    assert.equal(
      (await fuseCall(dev.queues[0], "LOOKUP", 1n, { name: "nothere" })).reply?.header.error,
      -2,
    );
    // a chain whose readable descriptor follows its writable one
    const mem = dev.memory.memory;
    q.driver.add([fuseRequest("GETATTR", 1n, { getattr_flags: 0, dummy: 0, fh: 0n })], [256]);
    const slot = 3; // INIT, LOOKUP, GETATTR on this queue
    const head = mem.readU16(Number(q.rings.driver) + 4 + 2 * slot);
    const headDesc = Number(q.rings.desc) + 16 * head;
    const second = mem.readU16(headDesc + 14);
    const secondDesc = Number(q.rings.desc) + 16 * second;
    mem.writeU16(headDesc + 12, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
    mem.writeU16(secondDesc + 12, 0);
    q.notify();
    const used = await q.waitUsedAsync();
    assert.equal(used.length, 1);
    assert.equal(used[0].len, 0);
    // still serving
    assert.equal((await fuseCall(q, "LOOKUP", 1n, { name: "hello" })).reply?.header.error, 0);
    fe.close();
    // a second front-end: its records go to a second section
    const fe2 = await VhostUserFrontend.connect(socket);
    const dev2 = await fe2.setUp();
    assert.equal((await fuseCall(dev2.queues[1], "INIT", 0n, INIT_BODY)).reply?.header.error, 0);
    fe2.close();
  } finally {
    await backend.close();
  }
  try {
    const events = await readAll(capture);
    const channels = new Set(events.map((e) => e.channel));
    for (const c of ["vhost-user", "vq0", "vq1"]) assert.ok(channels.has(c), `channel ${c}`);
    // control messages both ways, with fd counts
    const control = events.filter((e) => e.channel === "vhost-user");
    const names = new Set(control.map((e) => e.vhost_user?.name));
    for (
      const n of [
        "GET_FEATURES",
        "SET_MEM_TABLE",
        "SET_VRING_NUM",
        "SET_VRING_ADDR",
        "SET_VRING_KICK",
      ]
    ) {
      assert.ok(names.has(n), `control message ${n}`);
    }
    const memTable = control.find((e) => e.vhost_user?.request === FrontendRequest.SET_MEM_TABLE)!;
    assert.equal(memTable.direction, "inbound");
    assert.equal(memTable.fd_count, 1);
    const features = control.find((e) =>
      e.vhost_user?.request === FrontendRequest.GET_FEATURES && e.vhost_user.reply
    )!;
    assert.equal(features.direction, "outbound");
    // FUSE records carry their queue, chain and (after INIT) the minor
    const lookups = events.filter((e) => e.kind === "fuse_request" && e.fuse?.op === "LOOKUP");
    assert.deepEqual(lookups.map((e) => e.queue), [1, 0, 1]);
    assert.ok(lookups.every((e) => e.chain !== undefined && e.chain.writableBytes === 8192));
    assert.ok(lookups.every((e) => e.fuse_minor === 45));
    // ring events: kicks with their counter, calls, chains with the used length
    const kicks = events.filter((e) => e.kind === "ring_kick");
    assert.ok(kicks.length >= 4);
    assert.ok(kicks.every((e) => e.bytes.length === 8 && e.bytes[0] >= 1));
    assert.ok(events.some((e) => e.kind === "ring_call" && e.queue === 1));
    const chains = events.filter((e) => e.kind === "ring_chain");
    const okChains = chains.filter((e) => ((e.record_flags ?? 0) & RECORD_FLAG_MALFORMED) === 0);
    assert.ok(okChains.length >= 5);
    for (const c of okChains) {
      const usedLen = new DataView(c.bytes.buffer, c.bytes.byteOffset).getUint32(0, true);
      assert.ok(usedLen <= c.chain!.writableBytes);
    }
    const bad = chains.filter((e) => ((e.record_flags ?? 0) & RECORD_FLAG_MALFORMED) !== 0);
    assert.equal(bad.length, 1);
    assert.equal(bad[0].malformation, "readable-after-writable");
    assert.equal(bad[0].queue, 1);
    // frames are in time order
    for (let i = 1; i < events.length; i++) assert.ok(events[i].time_ns >= events[i - 1].time_ns);
    // check: exactly the malformed chain, nothing else
    const report = await collectCheck(readEvents(capture));
    assert.deepEqual(report.findings.map((f) => f.code), ["malformed_chain"]);
    assert.match(report.findings[0].message, /readable descriptor follows a device-writable/);
    assert.deepEqual(report.findings[0].frames, [bad[0].frame]);
    // two sections: the second front-end's INIT is there
    const inits = events.filter((e) => e.kind === "fuse_request" && e.fuse?.op === "INIT");
    assert.equal(inits.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(capture);
  }
});

Deno.test("record: READ and WRITE served in place through scattered guest buffers carry their data in the capture", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringside-vu-rec-rw-" });
  const socket = `${dir}.sock`;
  const capture = `${dir}.pcapng`;
  const original = crypto.getRandomValues(new Uint8Array(12_000));
  await Deno.writeFile(`${dir}/data`, original);
  const written = crypto.getRandomValues(new Uint8Array(8_000));
  const backend = await startVhostUserBackend(socket, dir, {
    record: recorderSpec(capture, { flushMs: 50 }),
  });
  let readBack: Uint8Array;
  try {
    const fe = await VhostUserFrontend.connect(socket);
    const dev = await fe.setUp({ indirect: false });
    const q = dev.queues[1];
    assert.equal((await fuseCall(q, "INIT", 0n, INIT_BODY)).reply?.header.error, 0);
    const lookup = await fuseCall(q, "LOOKUP", 1n, { name: "data" });
    const nodeid = (lookup.reply!.body as { nodeid: bigint }).nodeid;
    const open = await fuseCall(q, "OPEN", nodeid, { flags: 2, open_flags: 0 });
    const fh = (open.reply!.body as { fh: bigint }).fh;
    // a WRITE whose headers and data take three readable descriptors
    const w = fuseRequest("WRITE", nodeid, {
      fh,
      offset: 100n,
      size: written.length,
      write_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
      data: written,
    });
    q.driver.add([w.subarray(0, 80), w.subarray(80, 5080), w.subarray(5080)], [256]);
    q.notify();
    const wUsed = await q.waitUsedAsync();
    assert.equal(wUsed.length, 1);
    assert.equal(new DataView(wUsed[0].written.buffer).getInt32(4, true), 0, "WRITE error");
    // a READ whose reply lands in three writable descriptors
    const r = fuseRequest("READ", nodeid, {
      fh,
      offset: 50n,
      size: 9_000,
      read_flags: 0,
      lock_owner: 0n,
      flags: 0,
      padding: 0,
    });
    q.driver.add([r], [16, 4096, 8192]);
    q.notify();
    const rUsed = await q.waitUsedAsync();
    assert.equal(rUsed.length, 1);
    assert.equal(rUsed[0].len, 16 + 9_000);
    readBack = rUsed[0].written.slice(16, 16 + 9_000);
    fe.close();
  } finally {
    await backend.close();
  }
  try {
    const expected = original.slice();
    expected.set(written, 100);
    assert.deepEqual(await Deno.readFile(`${dir}/data`), expected, "the host file");
    assert.deepEqual(readBack, expected.subarray(50, 9_050), "what the driver read");
    const events = await readAll(capture);
    const wReq = events.find((e) => e.kind === "fuse_request" && e.fuse?.op === "WRITE")!;
    assert.equal(wReq.bytes.length, 80 + written.length);
    assert.deepEqual(wReq.bytes.subarray(80), written, "the WRITE's data in its request record");
    assert.equal(wReq.chain?.descriptors, 4);
    const rReq = events.find((e) => e.kind === "fuse_request" && e.fuse?.op === "READ")!;
    assert.equal(rReq.bytes.length, 80);
    const unique = new DataView(rReq.bytes.buffer, rReq.bytes.byteOffset).getBigUint64(8, true);
    const rRep = events.find((e) =>
      e.kind === "fuse_reply" &&
      new DataView(e.bytes.buffer, e.bytes.byteOffset).getBigUint64(8, true) === unique
    )!;
    assert.equal(rRep.bytes.length, 16 + 9_000);
    assert.deepEqual(rRep.bytes.subarray(16), expected.subarray(50, 9_050), "the READ's data");
    // each request recorded once, each chain returned once
    assert.equal(events.filter((e) => e.fuse?.op === "WRITE").length, 2);
    assert.equal(events.filter((e) => e.fuse?.op === "READ").length, 2);
    const report = await collectCheck(readEvents(capture));
    assert.equal(report.errors, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(capture);
  }
});

Deno.test("record: an idle device writes the records it holds within a few hundred ms", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ringside-vu-rec-idle-" });
  const socket = `${dir}.sock`;
  const capture = `${dir}.pcapng`;
  await Deno.writeTextFile(`${dir}/hello`, "hi");
  // the recorder's own bounds would hold the records far longer than the test waits
  const backend = await startVhostUserBackend(socket, dir, {
    record: recorderSpec(capture, { flushMs: 60_000, flushBytes: 1 << 20 }),
  });
  try {
    const fe = await VhostUserFrontend.connect(socket);
    const dev = await fe.setUp();
    const q = dev.queues[1];
    assert.equal((await fuseCall(q, "INIT", 0n, INIT_BODY)).reply?.header.error, 0);
    assert.equal((await fuseCall(q, "LOOKUP", 1n, { name: "hello" })).reply?.header.error, 0);
    // idle: nothing more reaches the queue Worker
    await new Promise((r) => setTimeout(r, 500));
    const lookups: string[] = [];
    const s = readEvents(capture, { onDamage: "stop" });
    for await (const ev of s) {
      if (ev.kind === "fuse_reply" && ev.fuse?.op === "LOOKUP") lookups.push(ev.fuse.op);
    }
    assert.equal(s.summary.damage, undefined, s.summary.damage?.message);
    assert.deepEqual(
      lookups,
      ["LOOKUP"],
      "the LOOKUP's reply is in the file while the device idles",
    );
    fe.close();
  } finally {
    await backend.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(capture);
  }
});
