import { pcapngFuzzTarget } from "./fuzz.ts";

Deno.test("fuzz: the capture readers survive 100000 mutated captures", () => {
  pcapngFuzzTarget.run(100_000, 20261121);
});
