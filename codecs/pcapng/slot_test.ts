import assert from "node:assert/strict";
import { CaptureReader, PacketSlot, PcapngReader } from "./mod.ts";

const DIRS = ["../../testdata/pcapng/", "../../testdata/captures/"];

async function files(): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const d of DIRS) {
    const dir = new URL(d, import.meta.url);
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && /\.pcapn?g$/.test(e.name)) {
        out.push(await Deno.readFile(new URL(e.name, dir)));
      }
    }
  }
  return out;
}

/** Every packet as `next()` and `nextInto()` see it, the input pushed `step` bytes at a time. */
function packets(bytes: Uint8Array, step: number, into: boolean): string[] {
  const r = new CaptureReader();
  const slot = new PacketSlot();
  const out: string[] = [];
  const take = () => {
    for (;;) {
      const item = into ? r.nextInto(slot) : r.next();
      if (item === undefined) return;
      if (item === slot) {
        out.push(
          `${slot.offset} ${slot.interfaceId} ${slot.timestampNs} ${slot.flags} ${
            slot.array.subarray(slot.start, slot.end).join(",")
          }`,
        );
      } else if (item.kind === "packet") {
        const dir = item.direction === "inbound" ? 1 : item.direction === "outbound" ? 2 : 0;
        out.push(
          `${item.offset} ${item.interfaceId} ${item.timestampNs} ${(item.flags & ~3) | dir} ${
            item.data.join(",")
          }`,
        );
      }
    }
  };
  for (let i = 0; i < bytes.length; i += step) {
    r.push(bytes.slice(i, i + step));
    take();
  }
  r.end();
  take();
  return out;
}

Deno.test("nextInto reads every packet as next() does, whole or split across chunks", async () => {
  const all = await files();
  assert.ok(all.length >= 3);
  for (const bytes of all) {
    const want = packets(bytes, bytes.length, false);
    assert.ok(want.length > 0);
    assert.deepEqual(packets(bytes, bytes.length, true), want);
    assert.deepEqual(packets(bytes, 61, true), want);
  }
});

Deno.test("nextInto: damage is the same CodecError as next()'s", async () => {
  const bytes = (await files())[0];
  const broken = bytes.slice(0, bytes.length - 7);
  const errorOf = (into: boolean) => {
    const r = new PcapngReader();
    r.push(broken);
    r.end();
    const slot = new PacketSlot();
    try {
      while ((into ? r.nextInto(slot) : r.next()) !== undefined);
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  };
  assert.match(errorOf(true), /truncated/);
  assert.equal(errorOf(true), errorOf(false));
});
