/**
 * `deno task fuzz [--iterations N] [--seed S] [TARGET...]`: long fuzzing runs
 * over every registered target (testing/fuzz.ts). Add a target by importing it
 * into TARGETS below.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { FuzzTarget } from "../testing/fuzz.ts";
import { vhostUserFuzzTarget } from "../codecs/vhost_user/fuzz.ts";
import { pcapngFuzzTarget } from "../codecs/pcapng/fuzz.ts";
import { virtqueueDeviceFuzz } from "../virtqueue/fuzz.ts";
import { fuseFuzzTarget } from "../codecs/fuse/fuzz.ts";

const TARGETS: FuzzTarget[] = [];
TARGETS.push(vhostUserFuzzTarget);
TARGETS.push(pcapngFuzzTarget);
TARGETS.push(virtqueueDeviceFuzz);
TARGETS.push(fuseFuzzTarget);

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    iterations: { type: "string", default: "2000000" },
    seed: { type: "string", default: String(Date.now() % 2147483647) },
  },
  allowPositionals: true,
});
const iterations = Number(values.iterations);
const seed = Number(values.seed);
if (!Number.isInteger(iterations) || iterations <= 0) {
  console.error(`fuzz: --iterations must be a positive integer, got ${values.iterations}`);
  Deno.exit(2);
}
const chosen = positionals.length === 0
  ? TARGETS
  : TARGETS.filter((t) => positionals.includes(t.name));
if (chosen.length === 0) {
  console.error(
    `fuzz: no target matches; known: ${TARGETS.map((t) => t.name).join(", ") || "(none yet)"}`,
  );
  Deno.exit(2);
}
for (const t of chosen) {
  const start = performance.now();
  t.run(iterations, seed);
  const s = (performance.now() - start) / 1000;
  console.log(`${t.name}: ${iterations} cases from seed ${seed} in ${s.toFixed(1)} s, no failure`);
}
