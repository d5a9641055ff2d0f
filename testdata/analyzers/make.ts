/**
 * Writes the hand-built captures of testdata/analyzers/ from
 * analyzers/_fixtures.ts: `deno run -A testdata/analyzers/make.ts`.
 * analyzers/check_test.ts checks the files are still byte-identical to what
 * the generator makes.
 *
 * @module
 */
import {
  cleanFixture,
  twoGuestsFixture,
  violationFixtures,
  workloadFixture,
} from "../../analyzers/_fixtures.ts";

for (const f of [cleanFixture(), workloadFixture(), twoGuestsFixture(), ...violationFixtures()]) {
  const path = new URL(`./${f.name}`, import.meta.url);
  await Deno.writeFile(path, f.bytes);
  console.log(`${f.name.padEnd(30)} ${String(f.bytes.length).padStart(8)} bytes  ${f.description}`);
}
