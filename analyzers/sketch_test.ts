import assert from "node:assert/strict";
import { BoundedMap, LogHistogram, SpaceSaving, TimeSeries } from "./sketch.ts";
import { prng } from "../testing/fuzz.ts";

Deno.test("LogHistogram: percentiles within 4% of the exact ones, min/max/mean exact", () => {
  const rnd = prng(7);
  const h = new LogHistogram();
  const values: number[] = [];
  for (let i = 0; i < 20000; i++) {
    // log-uniform from 1 µs to 1 s
    const v = Math.round(1000 * Math.pow(1e6, rnd()));
    values.push(v);
    h.add(v);
  }
  values.sort((a, b) => a - b);
  const exact = (q: number) => values[Math.ceil(q * values.length) - 1];
  const s = h.summary();
  for (const [q, got] of [[0.5, s.p50], [0.9, s.p90], [0.99, s.p99]] as const) {
    const want = exact(q);
    assert.ok(Math.abs(got - want) / want < 0.04, `q${q}: ${got} vs ${want}`);
  }
  assert.equal(s.min, values[0]);
  assert.equal(s.max, values[values.length - 1]);
  assert.equal(s.count, 20000);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs(s.mean - mean) < 1e-6 * mean);
});

Deno.test("LogHistogram: small and huge values, empty summary, buckets cover every value", () => {
  const h = new LogHistogram();
  assert.deepEqual(h.summary(), { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0 });
  assert.deepEqual(h.buckets(), []);
  for (const v of [0, 1, 3, 15, 16, 17, 1e12, 2 ** 60, -5]) h.add(v);
  assert.equal(h.summary().min, 0);
  assert.equal(h.summary().max, 2 ** 60);
  assert.equal(h.quantile(0), 0);
  assert.equal(h.quantile(1), 2 ** 60);
  const b = h.buckets(4);
  assert.equal(b.reduce((n, x) => n + x.count, 0), 9);
  assert.ok(b.length <= 5);
  for (let i = 1; i < b.length; i++) assert.ok(b[i].low >= b[i - 1].high);
});

Deno.test("SpaceSaving: exact below capacity, heavy hitters survive many distinct keys", () => {
  const s = new SpaceSaving<number>(16);
  for (let i = 0; i < 10; i++) s.add(i, i + 1);
  assert.deepEqual(s.top(3).map((t) => [t.key, t.weight, t.error]), [[9, 10, 0], [8, 9, 0], [
    7,
    8,
    0,
  ]]);
  assert.equal(s.approximate, false);
  const big = new SpaceSaving<number>(16);
  for (let i = 0; i < 100000; i++) {
    big.add(i % 5 === 0 ? 1 : 1000 + i, i % 5 === 0 ? 10 : 1); // key 1 is heavy
    if (i % 7 === 0) big.add(2, 5);
  }
  const top = big.top(2);
  assert.equal(top[0].key, 1);
  assert.equal(top[1].key, 2);
  assert.ok(top[0].weight >= 200000 && top[0].weight - top[0].error <= 200000);
  assert.equal(big.approximate, true);
  assert.equal(big.total, 200000 + 80000 + 5 * Math.ceil(100000 / 7));
});

Deno.test("TimeSeries: widens and merges, sums and maxima survive merging", () => {
  const t = new TimeSeries({ maxBuckets: 8, initialBucketNs: 10 });
  for (let i = 0; i < 8; i++) {
    t.add("ops", 1000 + i * 10, 1);
    t.add("depth", 1000 + i * 10, i, "max");
  }
  assert.equal(t.bucketNs, 10);
  t.add("ops", 1000 + 8 * 10, 1); // forces a doubling
  assert.equal(t.bucketNs, 20);
  const s = t.snapshot();
  assert.equal(s.startNs, 1000);
  assert.deepEqual(s.columns.ops, [2, 2, 2, 2, 1]);
  assert.deepEqual(s.columns.depth, [1, 3, 5, 7, 0]);
  t.add("ops", 1000 + 10_000, 1); // far ahead: several doublings
  assert.ok(t.bucketNs >= 10_000 / 8);
  const s2 = t.snapshot();
  assert.equal(s2.columns.ops.reduce((a, b) => a + b, 0), 10);
  assert.ok(s2.columns.ops.length <= 8);
});

Deno.test("BoundedMap: refuses new keys past the limit and counts them", () => {
  const m = new BoundedMap<string, number>(2);
  m.set("a", 1).set("b", 2).set("c", 3).set("a", 4);
  assert.equal(m.size, 2);
  assert.equal(m.get("a"), 4);
  assert.equal(m.has("c"), false);
  assert.equal(m.overflow, 1);
  m.delete("b");
  m.set("c", 3);
  assert.equal(m.get("c"), 3);
});
