import assert from "node:assert/strict";
import { fuzzDevice } from "./fuzz.ts";

Deno.test("fuzz: the device side survives 100,000 random and mutated rings", () => {
  const s = fuzzDevice(100_000, 20261121);
  assert.equal(s.cases, 100_000);
  // the cases reach every outcome: served chains, malformed chains, resets, refused setups
  assert.ok(s.chains > 200_000, `chains served: ${s.chains}`);
  assert.ok(s.malformed > 10_000, `malformed chains: ${s.malformed}`);
  assert.ok(s.resets > 1_000, `needs-reset queues: ${s.resets}`);
  assert.ok(s.refused > 100, `refused setups: ${s.refused}`);
});
