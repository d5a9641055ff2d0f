/**
 * The vhost-user back-end driven by the test front-end (frontend.ts): the
 * handshake, FUSE requests over split and packed rings on any queue, the
 * vring life cycle (GET_VRING_BASE, a new call fd, reconnects), and malformed
 * messages and rings, after which the daemon keeps serving.
 */
import assert from "node:assert/strict";
import {
  encodeRequest,
  FrontendRequest,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_NEED_REPLY_MASK,
} from "../../codecs/vhost_user/mod.ts";
import { featureBit, VIRTIO_F, VIRTIO_STATUS } from "../../codecs/virtio/mod.ts";
import { eventfd, eventfdRead } from "../../sys/eventfd.ts";
import { close } from "../../sys/socket.ts";
import { waitReadableAsync } from "../../sys/poll.ts";
import { startVhostUserBackend, type VhostUserBackend } from "./backend.ts";
import { type FrontendDevice, guestReplySizes, VhostUserFrontend } from "./frontend.ts";
import { fuseCall, fuseRequest, INIT_BODY } from "./_fuse_client.ts";

interface Fixture {
  dir: string;
  socket: string;
  backend: VhostUserBackend;
  logs: string[];
}

async function withBackend(
  fn: (f: Fixture) => Promise<void>,
  options: { packed?: boolean; queues?: number; spinMicroseconds?: number; readThreads?: 1 | 2 } =
    {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ringside-vu-test-" });
  const socket = `${dir}.sock`;
  const logs: string[] = [];
  const backend = await startVhostUserBackend(socket, dir, {
    log: (l) => logs.push(l),
    packed: options.packed,
    queues: options.queues,
    spinMicroseconds: options.spinMicroseconds,
    readThreads: options.readThreads,
  });
  // both warm-ups (the engine's, the ring path's) ran: a skipped one says so in the log
  assert.deepEqual(logs.filter((l) => l.includes("warm-up")), []);
  try {
    await fn({ dir, socket, backend, logs });
  } finally {
    await backend.close();
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(() => Deno.statSync(socket), Deno.errors.NotFound, "socket file removed on close");
}

async function connectAndInit(
  socket: string,
  options: Parameters<VhostUserFrontend["setUp"]>[0] = {},
): Promise<{ fe: VhostUserFrontend; dev: FrontendDevice }> {
  const fe = await VhostUserFrontend.connect(socket);
  const dev = await fe.setUp(options);
  const init = await fuseCall(dev.queues[1], "INIT", 0n, INIT_BODY);
  assert.equal(init.reply?.header.error, 0);
  return { fe, dev };
}

Deno.test("handshake: features, protocol features, queue count, memory slots, status", async () => {
  await withBackend(async ({ socket }) => {
    const fe = await VhostUserFrontend.connect(socket);
    try {
      const features = await fe.getU64(FrontendRequest.GET_FEATURES);
      for (const bit of [VIRTIO_F.VERSION_1, VIRTIO_F.INDIRECT_DESC, VIRTIO_F.EVENT_IDX, 30]) {
        assert.notEqual(features & featureBit(bit), 0n, `feature bit ${bit} offered`);
      }
      const proto = await fe.getU64(FrontendRequest.GET_PROTOCOL_FEATURES);
      for (const bit of [0, 3, 13, 15, 16]) assert.notEqual(proto & (1n << BigInt(bit)), 0n);
      assert.equal(proto & (1n << 9n), 0n, "CONFIG is never offered");
      await fe.request(FrontendRequest.SET_PROTOCOL_FEATURES, { kind: "u64", u64: proto });
      assert.equal(await fe.getU64(FrontendRequest.GET_QUEUE_NUM), 3n);
      assert.equal(await fe.getU64(FrontendRequest.GET_MAX_MEM_SLOTS), 32n);
      await fe.ack(FrontendRequest.SET_STATUS, { kind: "u64", u64: 0xfn });
      assert.equal(await fe.getU64(FrontendRequest.GET_STATUS), 0xfn);
    } finally {
      fe.close();
    }
  }, { queues: 2 });
});

Deno.test("FUSE over the rings: INIT, LOOKUP, GETATTR, READ on any queue; FORGET used with length 0", async () => {
  await withBackend(async ({ dir, socket }) => {
    await Deno.writeTextFile(`${dir}/hello.txt`, "hello from the host\n");
    const { fe, dev } = await connectAndInit(socket);
    try {
      for (const q of dev.queues) {
        const lookup = await fuseCall(q, "LOOKUP", 1n, { name: "hello.txt" });
        assert.equal(lookup.reply?.header.error, 0);
        const entry = lookup.reply!.body as { nodeid: bigint; attr: { size: bigint } };
        assert.equal(entry.attr.size, 20n);
        const attr = await fuseCall(q, "GETATTR", entry.nodeid, {
          getattr_flags: 0,
          dummy: 0,
          fh: 0n,
        });
        assert.equal(attr.reply?.header.error, 0);
        const open = await fuseCall(q, "OPEN", entry.nodeid, { flags: 0, open_flags: 0 });
        const fh = (open.reply!.body as { fh: bigint }).fh;
        const read = await fuseCall(q, "READ", entry.nodeid, {
          fh,
          offset: 6n,
          size: 4096,
          read_flags: 0,
          lock_owner: 0n,
          flags: 0,
          padding: 0,
        });
        assert.equal(
          new TextDecoder().decode((read.reply!.body as { data: Uint8Array }).data),
          "from the host\n",
        );
        const forget = await fuseCall(q, "FORGET", entry.nodeid, { nlookup: 1n }, 0);
        assert.equal(forget.len, 0);
        assert.equal(forget.reply, null);
      }
    } finally {
      fe.close();
    }
  });
});

for (const readThreads of [1, 2] as const) {
  Deno.test(`large READs into page-sized guest buffers come back whole (${readThreads} read thread(s))`, async () => {
    await withBackend(async ({ dir, socket }) => {
      const size = 3 * 1024 * 1024 + 5000;
      const data = new Uint8Array(size);
      const view = new DataView(data.buffer);
      for (let i = 0; i + 4 <= size; i += 4) view.setUint32(i, i * 2654435761 >>> 0, true);
      await Deno.writeFile(`${dir}/big`, data);
      // room for a 1 MiB read in pages: 258 descriptors, as a Linux guest sends it
      const { fe, dev } = await connectAndInit(socket, { queueSize: 512, memorySize: 32 << 20 });
      try {
        const q = dev.queues[1];
        const lookup = await fuseCall(q, "LOOKUP", 1n, { name: "big" });
        const nodeid = (lookup.reply!.body as { nodeid: bigint }).nodeid;
        const open = await fuseCall(q, "OPEN", nodeid, { flags: 0, open_flags: 0 });
        const fh = (open.reply!.body as { fh: bigint }).fh;
        const pages = guestReplySizes(1 << 20);
        // whole reads, unaligned ones, one that ends inside the file's last MiB, one past its end
        for (const offset of [0, 1 << 20, 12345, 2 * (1 << 20) + 77, size - 100, size + 1]) {
          for (let round = 0; round < 3; round++) {
            const read = await fuseCall(q, "READ", nodeid, {
              fh,
              offset: BigInt(offset),
              size: 1 << 20,
              read_flags: 0,
              lock_owner: 0n,
              flags: 0,
              padding: 0,
            }, pages);
            assert.equal(read.reply?.header.error, 0);
            const got = (read.reply!.body as { data: Uint8Array }).data;
            const want = data.subarray(Math.min(offset, size), Math.min(offset + (1 << 20), size));
            assert.equal(got.length, want.length, `READ at ${offset}: length`);
            const diff = got.findIndex((b, i) => b !== want[i]);
            assert.equal(diff, -1, `READ at ${offset}: first difference at ${diff}`);
          }
        }
      } finally {
        fe.close();
      }
    }, { readThreads });
  });
}

Deno.test("packed rings: the same requests end to end", async () => {
  await withBackend(async ({ dir, socket }) => {
    await Deno.writeTextFile(`${dir}/p.txt`, "packed");
    const { fe, dev } = await connectAndInit(socket, { layout: "packed" });
    try {
      assert.notEqual(dev.features & featureBit(VIRTIO_F.RING_PACKED), 0n);
      for (let i = 0; i < 300; i++) { // more than the queue size: the wrap counters flip
        const r = await fuseCall(dev.queues[1], "LOOKUP", 1n, { name: "p.txt" });
        assert.equal(r.reply?.header.error, 0);
      }
      const missing = await fuseCall(dev.queues[0], "LOOKUP", 1n, { name: "nope" });
      assert.equal(missing.reply?.header.error, -2);
    } finally {
      fe.close();
    }
  });
});

Deno.test("queue depth 16: every request of a batch is answered", async () => {
  await withBackend(async ({ dir, socket }) => {
    await Deno.writeTextFile(`${dir}/f`, "x");
    const { fe, dev } = await connectAndInit(socket);
    try {
      const q = dev.queues[1];
      for (let round = 0; round < 20; round++) {
        const tokens = new Set<number>();
        for (let i = 0; i < 16; i++) {
          tokens.add(q.submit(fuseRequest("LOOKUP", 1n, { name: "f" }), 512)!);
        }
        while (tokens.size > 0) {
          const used = await q.waitUsedAsync(5000);
          assert.ok(used.length > 0, "answers arrive");
          for (const u of used) {
            assert.ok(tokens.delete(u.token));
            assert.ok(u.len > 16);
          }
        }
      }
    } finally {
      fe.close();
    }
  });
});

Deno.test("GET_VRING_BASE stops the ring and keeps the used index; restart continues; a new call fd works at once", async () => {
  await withBackend(async ({ socket }) => {
    const { fe, dev } = await connectAndInit(socket);
    try {
      const q = dev.queues[1];
      for (let i = 0; i < 5; i++) await fuseCall(q, "LOOKUP", 1n, { name: "x" });
      const base = await fe.getVringBase(1);
      assert.equal(base, 6, "INIT and five LOOKUPs were taken");
      const usedIdx = dev.memory.memory.readU16(Number(q.rings.device) + 2);
      assert.equal(usedIdx, 6, "the used index stays where it was");
      // restart the ring where it stopped, with a fresh kick and call fd
      const kick = eventfd();
      const call = eventfd();
      await fe.ack(FrontendRequest.SET_VRING_BASE, { kind: "vring_state", index: 1, num: base });
      await fe.setVringCall(1, call);
      await fe.ack(FrontendRequest.SET_VRING_KICK, { kind: "u64", u64: 1n }, [kick]);
      const req = fuseRequest("LOOKUP", 1n, { name: "y" });
      q.driver.add([req], [512]);
      const { eventfdWrite } = await import("../../sys/eventfd.ts");
      eventfdWrite(kick);
      assert.ok(await waitReadableAsync(call, 5000), "the new call fd is signalled");
      assert.equal(eventfdRead(call), 1n);
      const used = q.driver.takeUsed();
      assert.equal(used.length, 1);
      // and another call fd replacement takes effect for the next request
      const call2 = eventfd();
      await fe.setVringCall(1, call2);
      q.driver.add([fuseRequest("LOOKUP", 1n, { name: "z" })], [512]);
      eventfdWrite(kick);
      assert.ok(await waitReadableAsync(call2, 5000));
      assert.equal(q.driver.takeUsed().length, 1);
      close(kick);
      close(call);
      close(call2);
    } finally {
      fe.close();
    }
  });
});

Deno.test("guest after guest: a second front-end is served after the first hangs up, with a fresh session", async () => {
  await withBackend(async ({ dir, socket, backend }) => {
    await Deno.writeTextFile(`${dir}/a`, "a");
    for (let guest = 1; guest <= 3; guest++) {
      const { fe, dev } = await connectAndInit(socket, { addMemReg: guest === 2 });
      const r = await fuseCall(dev.queues[1], "LOOKUP", 1n, { name: "a" });
      assert.equal(r.reply?.header.error, 0);
      fe.close();
      // the back-end notices the hang-up and waits for the next one
      for (let i = 0; i < 200 && backend.connections < guest; i++) {
        await new Promise((res) => setTimeout(res, 5));
      }
    }
    assert.equal(backend.connections, 3);
  });
});

Deno.test("malformed messages get error replies or drop the connection; the daemon keeps serving", async () => {
  await withBackend(async ({ socket, backend, logs }) => {
    const fe = await VhostUserFrontend.connect(socket);
    // an unknown request with NEED_REPLY: error ack, connection stays
    const unknown = new Uint8Array(VHOST_USER_HEADER_SIZE);
    new DataView(unknown.buffer).setUint32(0, 99, true);
    new DataView(unknown.buffer).setUint32(4, 1 | VHOST_USER_NEED_REPLY_MASK, true);
    fe.sendRaw(unknown);
    const raw = await fe.readReplyBytes();
    assert.ok(raw !== null);
    const rv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    assert.deepEqual([rv.getUint32(0, true), rv.getUint32(4, true), rv.getUint32(8, true)], [
      99,
      0x5,
      8,
    ]);
    assert.equal(rv.getBigUint64(12, true), 1n, "non-zero: failure");
    // SET_VRING_NUM with a short payload and NEED_REPLY
    const short = encodeRequest(FrontendRequest.SET_VRING_NUM, {
      kind: "vring_state",
      index: 0,
      num: 8,
    }, { needReply: true }).slice(0, VHOST_USER_HEADER_SIZE + 4);
    new DataView(short.buffer).setUint32(8, 4, true);
    fe.sendRaw(short);
    const r = await fe.readReply();
    assert.deepEqual(r?.payload, { kind: "u64", u64: 1n });
    // well-formed but invalid: queue index out of range, queue size not a power of two
    await assert.rejects(
      fe.ack(FrontendRequest.SET_VRING_NUM, { kind: "vring_state", index: 9, num: 8 }),
    );
    await assert.rejects(
      fe.ack(FrontendRequest.SET_VRING_NUM, { kind: "vring_state", index: 0, num: 100 }),
    );
    // SET_MEM_TABLE without its fd, with NEED_REPLY
    await assert.rejects(fe.ack(FrontendRequest.SET_MEM_TABLE, {
      kind: "memory",
      regions: [{ guestPhysAddr: 0n, memorySize: 4096n, userspaceAddr: 0n, mmapOffset: 0n }],
    }));
    // GET_FEATURES still answers on this connection
    assert.notEqual(await fe.getU64(FrontendRequest.GET_FEATURES), 0n);
    // a bad version in the header: no way to resynchronise, the back-end hangs up
    const bad = encodeRequest(FrontendRequest.SET_OWNER, { kind: "none" });
    new DataView(bad.buffer).setUint32(4, 2, true);
    fe.sendRaw(bad);
    assert.equal(await fe.readReply(), null, "connection dropped");
    fe.close();
    assert.ok(backend.malformedMessages >= 3);
    assert.ok(logs.some((l) => l.includes("malformed")), logs.join("\n"));
    // a correct front-end is served afterwards
    const { fe: good, dev } = await connectAndInit(socket);
    const ok = await fuseCall(dev.queues[1], "LOOKUP", 1n, { name: "none" });
    assert.equal(ok.reply?.header.error, -2);
    good.close();
  });
});

Deno.test("malformed rings: a bad chain is failed, a bad ring index enters needs-reset with the error fd; serving continues", async () => {
  await withBackend(async ({ socket, backend }) => {
    const { fe, dev } = await connectAndInit(socket);
    try {
      const q = dev.queues[1];
      const mem = dev.memory.memory;
      // a chain whose buffer lies outside guest memory: returned with length 0
      // (no ring polling in this test: the chain, published and then broken,
      // is seen only at its kick)
      const token = q.driver.add([fuseRequest("LOOKUP", 1n, { name: "x" })], [512])!;
      const head = mem.readU16(Number(q.rings.driver) + 4 + 2 * ((1) % 128)); // avail slot 1 (INIT took 0)
      mem.writeU32(Number(q.rings.desc) + 16 * head + 4, 0x10); // address high bits: far outside
      q.notify();
      const used = await q.waitUsedAsync();
      assert.equal(used.length, 1);
      assert.equal(used[0].token, token);
      assert.equal(used[0].len, 0);
      // the queue still serves
      const r = await fuseCall(q, "LOOKUP", 1n, { name: "y" });
      assert.equal(r.reply?.header.error, -2);
      // a ring fault: the available index jumps by more than the queue size
      const err = await fe.setVringErr(1);
      const availIdx = mem.readU16(Number(q.rings.driver) + 2);
      mem.writeU16(Number(q.rings.driver) + 2, (availIdx + 1000) & 0xffff);
      q.forceKick();
      assert.ok(await waitReadableAsync(err, 5000), "the error eventfd is signalled");
      assert.equal(eventfdRead(err), 1n);
      const status = await fe.getU64(FrontendRequest.GET_STATUS);
      assert.notEqual(status & BigInt(VIRTIO_STATUS.DEVICE_NEEDS_RESET), 0n);
      assert.equal(backend.needsResetCount, 1);
      // the other queue of the same device still answers
      const other = await fuseCall(dev.queues[0], "LOOKUP", 1n, { name: "y" });
      assert.equal(other.reply?.header.error, -2);
      close(err);
    } finally {
      fe.close();
    }
    // a ring address outside guest memory: needs-reset at start, and the next guest is fine
    const fe2 = await VhostUserFrontend.connect(socket);
    const dev2 = await fe2.setUp();
    await fe2.getVringBase(1);
    await fe2.ack(FrontendRequest.SET_VRING_ADDR, {
      kind: "vring_addr",
      index: 1,
      flags: 0,
      descUserAddr: 0x1234_0000n,
      availUserAddr: 0x1234_1000n,
      usedUserAddr: 0x1234_2000n,
      logGuestAddr: 0n,
    });
    const kick2 = eventfd();
    await fe2.ack(FrontendRequest.SET_VRING_KICK, { kind: "u64", u64: 1n }, [kick2]);
    close(kick2);
    assert.notEqual(
      (await fe2.getU64(FrontendRequest.GET_STATUS)) & BigInt(VIRTIO_STATUS.DEVICE_NEEDS_RESET),
      0n,
    );
    assert.ok(dev2.queues.length === 2);
    fe2.close();
    const { fe: fe3, dev: dev3 } = await connectAndInit(socket);
    assert.equal(
      (await fuseCall(dev3.queues[1], "LOOKUP", 1n, { name: "q" })).reply?.header.error,
      -2,
    );
    fe3.close();
  }, { spinMicroseconds: 0 });
});

const GETATTR_ROOT = { getattr_flags: 0, dummy: 0, fh: 0n };

/** `n` GETATTRs of the root, one at a time, each answered; returns the kicks they took. */
async function kicksFor(q: FrontendDevice["queues"][number], n: number): Promise<number> {
  const before = q.kicks;
  for (let i = 0; i < n; i++) {
    const r = await fuseCall(q, "GETATTR", 1n, GETATTR_ROOT);
    assert.equal(r.reply?.header.error, 0);
  }
  return q.kicks - before;
}

/** 70 requests, each published `gapMs` after the last reply; returns how many were kicked. */
async function slowDriver(q: Parameters<typeof kicksFor>[0], gapMs: number): Promise<number> {
  let kicked = 0;
  for (let i = 0; i < 70; i++) {
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    kicked += await kicksFor(q, 1);
  }
  return kicked;
}

Deno.test("adaptive ring polling keeps going for a driver that comes back late but within the window", async () => {
  await withBackend(async ({ socket }) => {
    const { fe, dev } = await connectAndInit(socket);
    try {
      const q = dev.queues[1];
      // a driver that comes back only after 3 ms (a guest under emulation
      // takes 0.1 ms): the (200 ms) window catches each request, after
      // spinning 3 ms for it, far less than the budget of two windows
      const kicked = await slowDriver(q, 3);
      assert.ok(kicked < 35, `polling caught most of the slow requests (${kicked} kicks for 70)`);
      // reviewed after 64 requests: polling goes on
      const again = await kicksFor(q, 20);
      assert.ok(again < 10, `polling still on: ${again} kicks for 20 back-to-back requests`);
    } finally {
      fe.close();
    }
  }, { spinMicroseconds: 200_000 });
});

Deno.test("adaptive ring polling pauses when it spins more than two windows per request caught", async () => {
  await withBackend(async ({ socket }) => {
    const { fe, dev } = await connectAndInit(socket);
    try {
      const q = dev.queues[1];
      // a driver that comes back after 2-3 ms, past the 1 ms window: only
      // the 4 ms probe windows catch it, after spinning through the shrinking
      // windows and most of the probe (about 4.5 ms per request caught)
      const kicked = await slowDriver(q, 2);
      assert.ok(kicked >= 50, `most late requests were kicked (${kicked} of 70)`);
      // reviewed after 64 windows: polling is paused, so even requests
      // published back to back are kicked
      assert.equal(await kicksFor(q, 20), 20, "polling paused: every request kicked");
    } finally {
      fe.close();
    }
  }, { spinMicroseconds: 1_000 });
});

Deno.test("adaptive ring polling: requests published while the back-end polls need no kick; after an idle spell they are kicked again", async () => {
  // a window far longer than the front-end's gaps, so that a busy machine stays inside it
  await withBackend(async ({ socket }) => {
    const { fe, dev } = await connectAndInit(socket);
    try {
      const q = dev.queues[1];
      const kicked = await kicksFor(q, 50);
      assert.ok(kicked < 25, `most requests were found by polling (${kicked} kicks for 50)`);
      // idle past the window: the back-end turns notifications back on and sleeps
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(await kicksFor(q, 1), 1, "the request after the idle spell needed a kick");
    } finally {
      fe.close();
    }
  }, { spinMicroseconds: 200_000 });
  await withBackend(async ({ socket }) => {
    const { fe, dev } = await connectAndInit(socket);
    try {
      assert.equal(
        await kicksFor(dev.queues[1], 20),
        20,
        "with polling off every request is kicked",
      );
    } finally {
      fe.close();
    }
  }, { spinMicroseconds: 0 });
});

Deno.test("with polling off, requests published at any moment around a kick are all answered", async () => {
  // The Worker serves a kicked queue before it reads the kick: a request
  // published between its last look at the ring and that read must still be
  // served (the look after the read) or kicked anew. Requests here come in
  // bursts of one to four, each kicked when the ring asks, the next burst
  // after a busy wait of 0-40 us, so they land at every point of the
  // Worker's path many times; one stranded request fails the wait.
  await withBackend(async ({ socket }) => {
    const { fe, dev } = await connectAndInit(socket);
    try {
      const q = dev.queues[1];
      const req = fuseRequest("GETATTR", 1n, GETATTR_ROOT);
      let seed = 7;
      const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
      let answered = 0;
      const before = q.kicks;
      for (let burst = 0; burst < 1500; burst++) {
        const n = 1 + (next() % 4);
        for (let i = 0; i < n; i++) assert.notEqual(q.submit(req, 256), null);
        const until = performance.now() + (next() % 41) / 1000;
        while (performance.now() < until) { /* busy: no sleep granularity */ }
        let waiting = n;
        while (waiting > 0) {
          const used = q.waitUsed(5000);
          assert.ok(used.length > 0, `burst ${burst}: ${waiting} request(s) never answered`);
          waiting -= used.length;
          answered += used.length;
        }
      }
      assert.ok(answered >= 1500);
      assert.ok(q.kicks - before > 0, "the requests were kicked");
    } finally {
      fe.close();
    }
  }, { spinMicroseconds: 0 });
});
