import assert from "node:assert/strict";
import { addrFromHalves, GuestMemory } from "./guest_memory.ts";
import { GuestMemoryError } from "./errors.ts";
import { BufferPool } from "./buffer_pool.ts";

function region(guest: number, size: number, user: number) {
  return { guestAddr: BigInt(guest), size, userAddr: BigInt(user), bytes: new Uint8Array(size) };
}

Deno.test("guest memory: reads and writes land in the right region and edges are checked", () => {
  const mem = new GuestMemory([
    region(0x1000, 0x1000, 0x7000_0000),
    region(0x10000, 0x100, 0x9000),
  ]);
  mem.writeU32(0x1ffc, 0xdeadbeef);
  assert.equal(mem.readU32(0x1ffc), 0xdeadbeef);
  assert.equal(mem.regions[0].bytes[0xffc], 0xef);
  mem.writeU64(0x10000, 0x0102030405060708n);
  assert.equal(mem.readU64(0x10000), 0x0102030405060708n);
  assert.equal(mem.readU16(0x10000), 0x0708);
  assert.throws(() => mem.readU32(0x1ffd), GuestMemoryError, "crosses the region end");
  assert.throws(() => mem.readU16(0xfff), GuestMemoryError, "before the region");
  assert.throws(() => mem.slice(0x1800, 0x1000), GuestMemoryError, "straddles the gap");
  assert.throws(() => mem.readU16(-2), GuestMemoryError);
  assert.throws(() => mem.readU16(2 ** 60), GuestMemoryError);
  assert.equal(mem.slice(0x2000, 0).length, 0, "an empty range at the end is fine");
  const s = mem.slice(0x1004, 4);
  s[0] = 9;
  assert.equal(mem.regions[0].bytes[4], 9, "slice is a view");
  const c = mem.read(0x1004, 4);
  c[0] = 1;
  assert.equal(mem.regions[0].bytes[4], 9, "read is a copy");
  mem.write(0x10010, new Uint8Array([5, 6]));
  assert.deepEqual([...mem.read(0x10010, 2)], [5, 6]);
  assert.equal(mem.contains(0x10000n, 0x100), true);
  assert.equal(mem.contains(0x10000n, 0x101), false);
  assert.equal(mem.contains(-1n, 1), false);
});

Deno.test("guest memory: user address translation both ways", () => {
  const mem = new GuestMemory([region(0x1000, 0x1000, 0x7f00_0000_0000)]);
  assert.equal(mem.userToGuest(0x7f00_0000_0010n), 0x1010n);
  assert.equal(mem.guestToUser(0x1010n), 0x7f00_0000_0010n);
  assert.throws(() => mem.userToGuest(0x7f00_0000_1000n), GuestMemoryError);
  assert.throws(() => mem.userToGuest(0x7f00_0000_0ff0n, 0x20), GuestMemoryError);
  assert.throws(() => mem.guestToUser(0x3000n), GuestMemoryError);
});

Deno.test("guest memory: regions are added and removed, overlaps refused, cache invalidated", () => {
  const mem = new GuestMemory();
  mem.addRegion(region(0x1000, 0x1000, 0x5000));
  assert.throws(() => mem.addRegion(region(0x1800, 0x1000, 0x100000)), RangeError);
  assert.throws(() => mem.addRegion(region(0x8000, 0x1000, 0x5800)), RangeError, "user overlap");
  assert.throws(
    () => mem.addRegion({ guestAddr: 0n, size: 100, userAddr: 0n, bytes: new Uint8Array(10) }),
    RangeError,
  );
  mem.addRegion(region(0x0, 0x1000, 0x0));
  assert.deepEqual(mem.regions.map((r) => r.start), [0, 0x1000]);
  mem.writeU16(0x1000, 7); // caches the second region
  assert.ok(mem.removeRegion(0x1000n));
  assert.equal(mem.removeRegion(0x1000n), undefined);
  assert.throws(() => mem.readU16(0x1000), GuestMemoryError);
  mem.clear();
  assert.equal(mem.regions.length, 0);
});

Deno.test("guest memory: an mmap-style Uint8Array over a bigger buffer stays inside its window", () => {
  const backing = new Uint8Array(0x3000);
  const mem = new GuestMemory([{
    guestAddr: 0x1000n,
    size: 0x1000,
    userAddr: 0n,
    bytes: backing.subarray(0x1000, 0x2000),
  }]);
  mem.writeU32(0x1000, 0x11223344);
  assert.equal(backing[0x1000], 0x44);
  assert.throws(() => mem.readU32(0x2000), GuestMemoryError);
});

Deno.test("addrFromHalves refuses addresses at or beyond 2^53", () => {
  assert.equal(addrFromHalves(5, 1), 0x1_0000_0005);
  assert.equal(addrFromHalves(0xffff_ffff, 0x1f_ffff), 2 ** 53 - 1);
  assert.equal(addrFromHalves(0, 0x20_0000), -1);
});

Deno.test("buffer pool: first fit, alignment, coalescing", () => {
  const p = new BufferPool(0x100, 0x100);
  const a = p.alloc(0x10);
  const b = p.alloc(0x20, 16);
  assert.equal(a, 0x100);
  assert.equal(b, 0x110);
  assert.equal(p.alloc(0x1000), -1);
  p.free(a, 0x10);
  p.free(b, 0x20);
  assert.equal(p.freeBytes, 0x100);
  assert.equal(p.alloc(0x100), 0x100, "freed blocks coalesced back into one");
});
