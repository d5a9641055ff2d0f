import assert from "node:assert/strict";
import { KeyTable } from "./_table.ts";
import { prng } from "../testing/fuzz.ts";

Deno.test("KeyTable behaves as a Map under random sets and deletes, oldest first", () => {
  const rand = prng(7);
  const t = new KeyTable<number>();
  const m = new Map<number | bigint, number>();
  for (let step = 0; step < 20000; step++) {
    const r = rand();
    // small keys collide often; a few huge ones and bigints too
    const k = r < 0.05
      ? (1n << 60n) + BigInt(Math.floor(rand() * 8))
      : r < 0.1
      ? 2 ** 40 + Math.floor(rand() * 64)
      : Math.floor(rand() * 300);
    if (rand() < 0.55) {
      m.set(k, step);
      t.set(k, step);
    } else {
      assert.equal(t.delete(k), m.delete(k));
    }
    assert.equal(t.size, m.size);
    if (step % 97 === 0) {
      for (const [key, v] of m) assert.equal(t.get(key), v);
      assert.deepEqual(t.values(), [...m.values()]);
      assert.equal(t.oldest(), m.size === 0 ? undefined : m.keys().next().value);
    }
  }
});
