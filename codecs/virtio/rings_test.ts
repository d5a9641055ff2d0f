import assert from "node:assert/strict";
import { CodecError } from "../errors.ts";
import {
  decodeSplitDesc,
  encodeSplitDesc,
  splitAvailOffsets,
  splitDescFlagNames,
  splitRingLayout,
  splitRingSizes,
  splitUsedOffsets,
  vringNeedEvent,
} from "./split.ts";
import {
  decodePackedDesc,
  decodePackedEvent,
  encodePackedDesc,
  encodePackedEvent,
  packedDescFlagNames,
  packedNeedEvent,
} from "./packed.ts";

Deno.test("split ring sizes and layout", () => {
  assert.deepEqual(splitRingSizes(256), { desc: 4096, avail: 518, used: 2054 });
  assert.throws(() => splitRingSizes(3), CodecError);
  assert.throws(() => splitRingSizes(65536), CodecError);
  const l = splitRingLayout(0x1000n, 8);
  assert.deepEqual(l, { desc: 0x1000n, avail: 0x1080n, used: 0x1098n, end: 0x1098n + 70n });
  const legacy = splitRingLayout(0x10000n, 256, { align: 4096 });
  assert.equal(legacy.used, 0x12000n);
  assert.equal(splitAvailOffsets(8).used_event, 20);
  assert.equal(splitUsedOffsets(8).avail_event, 68);
});

Deno.test("split descriptor round-trips and names flags", () => {
  const b = new Uint8Array(20);
  encodeSplitDesc({ addr: 0x1234_5678_9abc_def0n, len: 0x230, flags: 3, next: 7 }, b, 4);
  assert.deepEqual(decodeSplitDesc(b, 4), {
    addr: 0x1234_5678_9abc_def0n,
    len: 0x230,
    flags: 3,
    next: 7,
  });
  assert.deepEqual(splitDescFlagNames(0x0f), ["NEXT", "WRITE", "INDIRECT", "0x8"]);
  assert.throws(() => decodeSplitDesc(b, 5), CodecError);
});

Deno.test("vring_need_event in u16 arithmetic", () => {
  assert.equal(vringNeedEvent(5, 6, 5), true);
  assert.equal(vringNeedEvent(6, 6, 5), false);
  assert.equal(vringNeedEvent(0xffff, 0, 0xfffe), true); // crossing the u16 wrap
  assert.equal(vringNeedEvent(3, 10, 4), false); // event before the window
});

Deno.test("packed descriptor and event suppression round-trip", () => {
  const b = new Uint8Array(16);
  encodePackedDesc({ addr: 42n, len: 9, id: 3, flags: 0x8081 }, b);
  assert.deepEqual(decodePackedDesc(b), { addr: 42n, len: 9, id: 3, flags: 0x8081 });
  assert.deepEqual(packedDescFlagNames(0x8081), ["NEXT", "AVAIL", "USED"]);
  const e = new Uint8Array(4);
  encodePackedEvent({ offset: 17, wrap: true, flags: 2 }, e);
  assert.deepEqual([...e], [17, 0x80, 2, 0]);
  assert.deepEqual(decodePackedEvent(e), { offset: 17, wrap: true, flags: 2 });
  assert.throws(() => decodePackedEvent(e, 1), CodecError);
});

Deno.test("packed need-event compares positions with their wrap counters", () => {
  const size = 8;
  // old at 6 (wrap 1), new at 1 (wrap 0: passed the ring end); event at 7 wrap 1 lies between
  assert.equal(
    packedNeedEvent({ offset: 7, wrap: true }, {
      newPos: 1,
      newWrap: false,
      oldPos: 6,
      oldWrap: true,
      size,
    }),
    true,
  );
  // the same positions but the event one lap later is not reached
  assert.equal(
    packedNeedEvent({ offset: 7, wrap: false }, {
      newPos: 1,
      newWrap: false,
      oldPos: 6,
      oldWrap: true,
      size,
    }),
    false,
  );
  assert.equal(
    packedNeedEvent({ offset: 0, wrap: false }, {
      newPos: 1,
      newWrap: false,
      oldPos: 6,
      oldWrap: true,
      size,
    }),
    true,
  );
});
