/**
 * Writes testdata/pcapng/synthetic.pcapng from codecs/pcapng/_fixture.ts:
 * `deno run -A testdata/pcapng/make_synthetic.ts`.
 *
 * @module
 */
import { buildSyntheticCapture } from "../../codecs/pcapng/_fixture.ts";

const path = new URL("./synthetic.pcapng", import.meta.url);
await Deno.writeFile(path, buildSyntheticCapture());
console.log(`wrote ${path.pathname}`);
