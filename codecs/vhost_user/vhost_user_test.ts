import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import { prng } from "../../testing/fuzz.ts";
import {
  BackendRequest,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  encodeReply,
  encodeRequest,
  expectedFdCount,
  formatFlags,
  formatMessage,
  formatProtocolFeatures,
  FrontendRequest,
  messageBytesNeeded,
  ProtocolFeature,
  protocolFeatureNames,
  requestName,
  tryDecodeMessage,
  type VhostUserMessage,
} from "./vhost_user.ts";
import { randomMessage, vhostUserFuzzTarget } from "./fuzz.ts";

/** Hex with spaces and newlines allowed, for hand-written vectors. */
function hex(s: string): Uint8Array {
  const clean = s.replace(/[\s|]/g, "");
  return new Uint8Array(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

function codecError(field: RegExp | string, offset?: number) {
  return (e: unknown) => {
    assert.ok(e instanceof CodecError, `expected CodecError, got ${e}`);
    if (typeof field === "string") assert.equal(e.field, field);
    else assert.match(e.field, field);
    if (offset !== undefined) assert.equal(e.offset, offset);
    return true;
  };
}

Deno.test("round trip of every front-end and back-end request and reply", () => {
  const rand = prng(7);
  let count = 0;
  for (
    const [channel, table] of [["frontend", FrontendRequest], ["backend", BackendRequest]] as const
  ) {
    const codes = Object.values(table) as number[];
    assert.equal(codes.length, channel === "frontend" ? 44 : 10);
    for (const request of codes) {
      for (const reply of [false, true]) {
        for (let k = 0; k < 5; k++) {
          const msg = randomMessage(rand, { channel, request, reply });
          const wire = encodeMessage(msg, { channel });
          assert.equal(messageBytesNeeded(wire), wire.length);
          const fds = expectedFdCount(msg, { channel });
          assert.deepEqual(decodeMessage(wire, { channel, fdCount: fds.max }), msg);
          count++;
        }
      }
    }
  }
  assert.equal(count, (44 + 10) * 2 * 5);
});

Deno.test("XEN_MMAP regions are 40 bytes and round-trip", () => {
  const msg: VhostUserMessage = {
    request: FrontendRequest.ADD_MEM_REG,
    flags: 1,
    payload: {
      kind: "mem_reg",
      region: {
        guestPhysAddr: 1n,
        memorySize: 2n,
        userspaceAddr: 3n,
        mmapOffset: 4n,
        xenMmapFlags: 0x101,
        domid: 7,
      },
    },
  };
  const wire = encodeMessage(msg, { xenMmap: true });
  assert.equal(wire.length, 12 + 8 + 40);
  assert.deepEqual(decodeMessage(wire, { xenMmap: true }), msg);
  assert.throws(() => decodeMessage(wire), codecError("ADD_MEM_REG.size", 8));
});

// Golden vectors: written byte by byte from the layouts in vhost-user.rst,
// little-endian, not produced by the encoder.
const GOLDEN: { name: string; channel?: "backend"; wire: string; msg: VhostUserMessage }[] = [
  {
    name: "GET_FEATURES request (no payload)",
    wire: "01000000 01000000 00000000",
    msg: { request: 1, flags: 1, payload: { kind: "none" } },
  },
  {
    name: "GET_FEATURES reply: VERSION_1 (32) | PROTOCOL_FEATURES (30)",
    wire: "01000000 05000000 08000000 | 00000040 01000000",
    msg: { request: 1, flags: 5, payload: { kind: "u64", u64: 0x1_4000_0000n } },
  },
  {
    name: "SET_PROTOCOL_FEATURES MQ|REPLY_ACK|CONFIGURE_MEM_SLOTS|STATUS with NEED_REPLY",
    wire: "10000000 09000000 08000000 | 09800100 00000000",
    msg: { request: 16, flags: 9, payload: { kind: "u64", u64: 0x18009n } },
  },
  {
    name: "SET_VRING_NUM index 1 num 1024",
    wire: "08000000 01000000 08000000 | 01000000 00040000",
    msg: { request: 8, flags: 1, payload: { kind: "vring_state", index: 1, num: 1024 } },
  },
  {
    name: "SET_VRING_ADDR with log flag",
    wire: `09000000 01000000 28000000 | 01000000 01000000
           00100000 7f000000 | 00200000 7f000000 | 00300000 7f000000 | 00000000 00000000`,
    msg: {
      request: 9,
      flags: 1,
      payload: {
        kind: "vring_addr",
        index: 1,
        flags: 1,
        descUserAddr: 0x7f00001000n,
        usedUserAddr: 0x7f00002000n,
        availUserAddr: 0x7f00003000n,
        logGuestAddr: 0n,
      },
    },
  },
  {
    name: "SET_MEM_TABLE with one region, as QEMU sends it (used regions only)",
    wire: `05000000 01000000 28000000 | 01000000 00000000
           00000000 00000000 | 00000040 00000000 | 00005634 127f0000 | 00000000 00000000`,
    msg: {
      request: 5,
      flags: 1,
      payload: {
        kind: "memory",
        regions: [{
          guestPhysAddr: 0n,
          memorySize: 0x40000000n,
          userspaceAddr: 0x7f1234560000n,
          mmapOffset: 0n,
        }],
      },
    },
  },
  {
    name: "SET_VRING_KICK index 1 with the no-fd bit",
    wire: "0c000000 01000000 08000000 | 01010000 00000000",
    msg: { request: 12, flags: 1, payload: { kind: "u64", u64: 0x101n } },
  },
  {
    name: "ADD_MEM_REG: 64-bit padding then the region",
    wire: `25000000 09000000 28000000 | 00000000 00000000
           00000000 01000000 | 00000010 00000000 | 00000080 ff7f0000 | 00100000 00000000`,
    msg: {
      request: 37,
      flags: 9,
      payload: {
        kind: "mem_reg",
        region: {
          guestPhysAddr: 0x100000000n,
          memorySize: 0x10000000n,
          userspaceAddr: 0x7fff80000000n,
          mmapOffset: 0x1000n,
        },
      },
    },
  },
  {
    name: "SET_LOG_BASE with a log description",
    wire: "06000000 01000000 10000000 | 00100000 00000000 | 00000000 00000000",
    msg: { request: 6, flags: 1, payload: { kind: "log", mmapSize: 0x1000n, mmapOffset: 0n } },
  },
  {
    name: "IOTLB_MSG update (struct vhost_iotlb_msg padded to 32)",
    wire: `16000000 01000000 20000000 | 00100000 00000000 | 00100000 00000000
           00700000 00000000 | 03 02 000000000000`,
    msg: {
      request: 22,
      flags: 1,
      payload: { kind: "iotlb", iova: 0x1000n, size: 0x1000n, uaddr: 0x7000n, perm: 3, type: 2 },
    },
  },
  {
    name: "GET_CONFIG reply with 4 bytes of config space",
    wire: "18000000 05000000 10000000 | 00000000 04000000 00000000 | 61626364",
    msg: {
      request: 24,
      flags: 5,
      payload: {
        kind: "config",
        offset: 0,
        flags: 0,
        region: new Uint8Array([0x61, 0x62, 0x63, 0x64]),
      },
    },
  },
  {
    name: "GET_INFLIGHT_FD request (padded to 24)",
    wire: "1f000000 01000000 18000000 | 00000000 00000000 | 00000000 00000000 | 0200 0001 00000000",
    msg: {
      request: 31,
      flags: 1,
      payload: { kind: "inflight", mmapSize: 0n, mmapOffset: 0n, numQueues: 2, queueSize: 256 },
    },
  },
  {
    name: "GET_SHARED_OBJECT with a UUID",
    wire: "29000000 01000000 10000000 | 00112233 44556677 8899aabb ccddeeff",
    msg: {
      request: 41,
      flags: 1,
      payload: { kind: "shared_object", uuid: hex("00112233445566778899aabbccddeeff") },
    },
  },
  {
    name: "SET_DEVICE_STATE_FD save, stopped",
    wire: "2a000000 01000000 08000000 | 00000000 00000000",
    msg: { request: 42, flags: 1, payload: { kind: "device_state", direction: 0, phase: 0 } },
  },
  {
    name: "GET_SHMEM_CONFIG reply: 1 region of 1 MiB, 256 slots",
    wire: "2c000000 05000000 08080000 | 01000000 00000000 | 00001000 00000000" +
      "0000000000000000".repeat(255),
    msg: {
      request: 44,
      flags: 5,
      payload: {
        kind: "shmem_config",
        nregions: 1,
        memorySizes: [0x100000n, ...Array<bigint>(255).fill(0n)],
      },
    },
  },
  {
    name: "back-end VRING_HOST_NOTIFIER_MSG (vring area)",
    channel: "backend",
    wire: "03000000 01000000 18000000 | 02000000 00000000 | 00100000 00000000 | 00300000 00000000",
    msg: {
      request: 3,
      flags: 1,
      payload: { kind: "vring_area", u64: 2n, size: 0x1000n, offset: 0x3000n },
    },
  },
  {
    name: "back-end SHMEM_MAP: shmid, 7 bytes padding, four u64s",
    channel: "backend",
    wire: `09000000 09000000 28000000 | 02 00000000000000 | 00000000 00000000
           00002000 00000000 | 00100000 00000000 | 01000000 00000000`,
    msg: {
      request: 9,
      flags: 9,
      payload: {
        kind: "mmap",
        shmid: 2,
        fdOffset: 0n,
        shmOffset: 0x200000n,
        len: 0x1000n,
        flags: 1n,
      },
    },
  },
];

for (const g of GOLDEN) {
  Deno.test(`golden: ${g.name}`, () => {
    const wire = hex(g.wire);
    assert.deepEqual(decodeMessage(wire, { channel: g.channel }), g.msg);
    assert.deepEqual(encodeMessage(g.msg, { channel: g.channel }), wire);
  });
}

Deno.test("decoder accepts the other sizes peers send: full memory struct, unpadded structs, u64 log base", () => {
  const full = new Uint8Array(12 + 8 + 8 * 32);
  full.set(hex("05000000 01000000 08010000 | 01000000 00000000 | 00100000 00000000"));
  const m = decodeMessage(full);
  assert.equal(m.payload.kind, "memory");
  assert.equal(m.payload.kind === "memory" && m.payload.regions.length, 1);
  const iotlb26 = hex("16000000 01000000 1a000000" + "00".repeat(24) + "0102");
  assert.deepEqual(decodeMessage(iotlb26).payload, {
    kind: "iotlb",
    iova: 0n,
    size: 0n,
    uaddr: 0n,
    perm: 1,
    type: 2,
  });
  const inflight20 = hex("20000000 01000000 14000000" + "00".repeat(16) + "0100 8000");
  assert.equal(decodeMessage(inflight20, { fdCount: 1 }).payload.kind, "inflight");
  const logU64 = hex("06000000 01000000 08000000 0000000000000000");
  assert.deepEqual(decodeMessage(logU64).payload, { kind: "u64", u64: 0n });
});

Deno.test("replies: REPLY_ACK u64 for any request, empty GET_CONFIG error reply", () => {
  const ack = encodeReply(FrontendRequest.SET_VRING_ADDR, { kind: "u64", u64: 0n });
  assert.deepEqual(ack, hex("09000000 05000000 08000000 0000000000000000"));
  assert.deepEqual(decodeMessage(ack).payload, { kind: "u64", u64: 0n });
  const memAck = encodeReply(FrontendRequest.SET_MEM_TABLE, { kind: "u64", u64: 1n });
  assert.deepEqual(decodeMessage(memAck, { fdCount: 0 }).payload, { kind: "u64", u64: 1n });
  const cfgErr = hex("18000000 05000000 00000000");
  assert.deepEqual(decodeMessage(cfgErr).payload, { kind: "none" });
  const req = encodeRequest(FrontendRequest.SET_OWNER, { kind: "none" }, { needReply: true });
  assert.deepEqual(req, hex("03000000 09000000 00000000"));
  assert.equal(formatFlags(9), "v1|NEED_REPLY");
});

Deno.test("fd counts: per region, no-fd bit, exactly one, none", () => {
  const two: VhostUserMessage = {
    request: 5,
    flags: 1,
    payload: {
      kind: "memory",
      regions: [0n, 1n].map((i) => ({
        guestPhysAddr: i << 30n,
        memorySize: 1n << 30n,
        userspaceAddr: 0x7f0000000000n + (i << 30n),
        mmapOffset: 0n,
      })),
    },
  };
  assert.deepEqual(expectedFdCount(two), { min: 2, max: 2 });
  const wire = encodeMessage(two);
  assert.ok(decodeMessage(wire, { fdCount: 2 }));
  assert.throws(() => decodeMessage(wire, { fdCount: 1 }), codecError("SET_MEM_TABLE.fds", 0));
  const kick = (u64: bigint) => ({ request: 12, flags: 1, payload: { kind: "u64" as const, u64 } });
  assert.deepEqual(expectedFdCount(kick(0n)), { min: 1, max: 1 });
  assert.deepEqual(expectedFdCount(kick(0x100n)), { min: 0, max: 0 });
  assert.throws(
    () => decodeMessage(encodeMessage(kick(3n)), { fdCount: 0 }),
    codecError("SET_VRING_KICK.fds"),
  );
  assert.throws(
    () => decodeMessage(hex("01000000 01000000 00000000"), { fdCount: 1 }),
    codecError("GET_FEATURES.fds"),
  );
  assert.deepEqual(
    expectedFdCount({ request: 38, flags: 1, payload: decodeMessage(GOLDEN_REM()).payload }),
    { min: 0, max: 1 },
  );
  const inflightReply = {
    request: 31,
    flags: 5,
    payload: decodeMessage(hex(GOLDEN[11].wire)).payload,
  };
  assert.deepEqual(expectedFdCount(inflightReply), { min: 1, max: 1 });
  assert.deepEqual(
    expectedFdCount({ request: 9, flags: 1, payload: GOLDEN[16].msg.payload }, {
      channel: "backend",
    }),
    { min: 1, max: 1 },
  );
});

function GOLDEN_REM(): Uint8Array {
  return hex("26000000 01000000 28000000" + "00".repeat(40));
}

Deno.test("malformed: short header, size mismatch, too many regions, bad version, unknown request", () => {
  assert.throws(() => decodeMessage(new Uint8Array(5)), codecError("VhostUserMsg.header", 0));
  assert.equal(messageBytesNeeded(new Uint8Array(5)), 12);
  // header says 8 bytes of payload, 4 present
  assert.throws(
    () => decodeMessage(hex("02000000 01000000 08000000 01000000")),
    codecError("VhostUserMsg.size", 8),
  );
  // SET_FEATURES with a 4-byte payload that the header agrees with
  assert.throws(
    () => decodeMessage(hex("02000000 01000000 04000000 01000000")),
    codecError("SET_FEATURES.size", 8),
  );
  // nine regions
  const nine = new Uint8Array(12 + 8 + 9 * 32);
  nine.set(hex("05000000 01000000 28010000 09000000"));
  assert.throws(() => decodeMessage(nine), codecError("VhostUserMemory.nregions", 12));
  // two regions announced, one present
  const short = new Uint8Array(12 + 8 + 32);
  short.set(hex("05000000 01000000 28000000 02000000"));
  assert.throws(() => decodeMessage(short), codecError("SET_MEM_TABLE.size", 8));
  assert.throws(
    () => decodeMessage(hex("01000000 02000000 00000000")),
    codecError("VhostUserMsg.flags", 4),
  );
  assert.throws(
    () => decodeMessage(hex("63000000 01000000 00000000")),
    (e: unknown) => e instanceof CodecError && /unknown front-end request 99/.test(e.message),
  );
  assert.throws(
    () => decodeMessage(hex("0b000000 01000000 00000000"), { channel: "backend" }),
    (e: unknown) => e instanceof CodecError && /unknown back-end request 11/.test(e.message),
  );
  assert.throws(
    () => messageBytesNeeded(hex("01000000 01000000 00100100")),
    codecError("VhostUserMsg.size", 8),
  );
  // config size field disagreeing with the payload
  assert.throws(
    () => decodeMessage(hex("19000000 01000000 10000000 | 00000000 08000000 00000000 | 61626364")),
    codecError("VhostUserConfig.size", 16),
  );
  const r = tryDecodeMessage(new Uint8Array(3));
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.error instanceof CodecError);
});

Deno.test("encoder refuses payloads that do not fit the request", () => {
  assert.throws(
    () => encodeRequest(FrontendRequest.SET_VRING_NUM, { kind: "u64", u64: 1n }),
    codecError("SET_VRING_NUM.payload", 12),
  );
  const region = { guestPhysAddr: 0n, memorySize: 0n, userspaceAddr: 0n, mmapOffset: 0n };
  assert.throws(
    () =>
      encodeRequest(FrontendRequest.SET_MEM_TABLE, {
        kind: "memory",
        regions: Array(9).fill(region),
      }),
    codecError("VhostUserMemory.nregions"),
  );
  assert.throws(
    () =>
      encodeRequest(FrontendRequest.SET_CONFIG, {
        kind: "config",
        offset: 0,
        flags: 0,
        region: new Uint8Array(257),
      }),
    codecError("VhostUserConfig.size"),
  );
});

Deno.test("names and printers", () => {
  assert.equal(requestName(44), "GET_SHMEM_CONFIG");
  assert.equal(requestName(10, { channel: "backend" }), "BACKEND_SHMEM_UNMAP");
  assert.equal(requestName(77), "REQUEST_77");
  assert.equal(ProtocolFeature.MQ, 0);
  assert.equal(ProtocolFeature.STATUS, 16);
  assert.equal(ProtocolFeature.SHMEM, 22);
  assert.deepEqual(protocolFeatureNames(0x18009n), [
    "MQ",
    "REPLY_ACK",
    "CONFIGURE_MEM_SLOTS",
    "STATUS",
  ]);
  assert.equal(formatProtocolFeatures(0n), "0");
  assert.equal(formatProtocolFeatures((1n << 40n) | 2n), "LOG_SHMFD|bit40");
  assert.equal(
    formatMessage(decodeMessage(hex(GOLDEN[2].wire))),
    "SET_PROTOCOL_FEATURES v1|NEED_REPLY {u64: 0x18009 (MQ|REPLY_ACK|CONFIGURE_MEM_SLOTS|STATUS)}",
  );
  assert.equal(
    formatMessage(decodeMessage(hex(GOLDEN[3].wire))),
    "SET_VRING_NUM v1 {index: 1, num: 1024}",
  );
  assert.deepEqual(decodeHeader(hex("0b000000 05000000 08000000")), {
    request: 11,
    flags: 5,
    size: 8,
  });
});

Deno.test("fuzz: 100,000 random and mutated messages", () => {
  vhostUserFuzzTarget.run(100_000, 0x5eed);
});
