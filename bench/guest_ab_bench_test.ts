/**
 * bench/guest_ab_bench.ts: the per-round pairing of fsbench outputs, and one
 * real run (a guest under QEMU with four virtio-fs devices: two `ringside
 * serve`s and two C virtiofsds) that must give every row every round, after
 * an uncounted warm-up round.
 */
import assert from "node:assert/strict";
import { peerTest } from "../testing/peers.ts";
import { pairRatios, runAbBench } from "./guest_ab_bench.ts";

Deno.test("pairs: a label's n-th output is paired with its base's n-th, whatever the order", () => {
  const runs = [
    // round 1, in order; round 2 reversed, as the guest runs them
    { label: "rs", write_mib_per_s: 110, stat_per_s: 50 },
    { label: "vfs", write_mib_per_s: 100, stat_per_s: 100 },
    { label: "vfs", write_mib_per_s: 200, stat_per_s: 100 },
    { label: "rs", write_mib_per_s: 180, stat_per_s: 300 },
    // round 3: the base gave no stat (NaN is not a ratio)
    { label: "rs", write_mib_per_s: 100, stat_per_s: 100 },
    { label: "vfs", write_mib_per_s: 100, stat_per_s: NaN },
  ];
  const [p] = pairRatios(runs, [["rs", "vfs"]]);
  assert.equal(p.pair, "rs / vfs");
  assert.deepEqual(p.metrics.write_mib_per_s, {
    median: 1,
    low: 0.9,
    high: 1.1,
    won: 2,
    rounds: 3,
  });
  assert.deepEqual(p.metrics.stat_per_s, { median: 1.75, low: 0.5, high: 3, won: 1, rounds: 2 });
  // a metric neither gave is absent, not zero
  assert.equal(p.metrics.read_mib_per_s, undefined);
});

peerTest("guest A/B: one guest, four back-ends, every row every round", {
  needs: ["qemu", "guest-kernel", "busybox", "virtiofsd"],
}, async () => {
  const r = await runAbBench({ rounds: 2, fsbenchArgs: ["-n", "30", "-s", "2", "-r", "50"] });
  assert.deepEqual(r.labels, ["ringside-auto", "ringside-never", "vfs-auto", "vfs-none"]);
  // an uncounted warm-up round first, then round 1 in order, round 2 reversed
  assert.deepEqual(r.warmup.map((o) => o.label), r.labels);
  for (const o of r.warmup) assert.ok(Number(o.create_per_s) > 0, `warm-up ${o.label}`);
  assert.deepEqual(r.runs.map((o) => o.label), [...r.labels, ...[...r.labels].reverse()]);
  for (const o of r.runs) {
    for (const k of ["create_per_s", "stat_per_s", "write_mib_per_s", "read_mib_per_s"]) {
      assert.ok(Number(o[k]) > 0, `${o.label} ${k} = ${o[k]}`);
    }
    assert.equal(o.files, 30);
    // the CPU its back-end used for the run, read from /proc
    assert.ok(Number.isFinite(o.backend_cpu_s) && Number(o.backend_cpu_s) >= 0, `${o.label}`);
  }
  const ringsideCpu = r.runs.filter((o) => String(o.label).startsWith("ringside"))
    .reduce((sum, o) => sum + Number(o.backend_cpu_s), 0);
  assert.ok(ringsideCpu > 0, "ringside's back-ends used no CPU");
  assert.deepEqual(r.pairs.map((p) => p.pair), [
    "ringside-auto / vfs-auto",
    "ringside-never / vfs-none",
  ]);
  for (const p of r.pairs) {
    assert.equal(p.metrics.create_per_s.rounds, 2);
    assert.ok(p.metrics.read_mib_per_s.median > 0);
  }
});
