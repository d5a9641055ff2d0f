/**
 * `ringside replay --timing original`: how late requests are issued against
 * the recorded inter-arrival times (mean, p99, max), for the real captures
 * in testdata/captures replayed into the engine in process, serially and 8
 * in flight. The figures are printed; the bench time is the replay's wall
 * time (the recording's own duration plus the lateness).
 *
 *   deno bench -A bench/replay_timing_bench.ts
 */
import { streamCapture } from "../cli/commands/_replay_io.ts";
import { engineTarget, replay } from "../engine/replayer.ts";
import { createPassthrough } from "../engine/session.ts";
import { restoreSnapshot } from "../engine/snapshot.ts";

const CAPTURES = new URL("../testdata/captures", import.meta.url).pathname;

function ms(ns: number): string {
  return `${(ns / 1e6).toFixed(3)} ms`;
}

for (const name of ["guest_workload", "host_workload"]) {
  for (const concurrency of [1, 8]) {
    Deno.bench({
      name: `replay ${name} --timing original --concurrency ${concurrency}`,
      n: 3,
      warmup: 0,
      async fn(b) {
        const capture = `${CAPTURES}/${name}.pcapng`;
        const dir = await Deno.makeTempDir({ prefix: "ringside-timing-bench-" });
        await restoreSnapshot(`${capture}.snapshot`, `${dir}/tree`);
        const { exchanges } = await streamCapture(capture);
        b.start();
        const r = await replay(exchanges, engineTarget(createPassthrough(`${dir}/tree`)), {
          timing: "original",
          concurrency,
          onExchange: () => {},
        });
        b.end();
        const t = r.timing!;
        console.log(
          `${name} c${concurrency}: ${r.total} requests, late by mean ${ms(t.meanNs)}, ` +
            `p99 ${ms(t.p99Ns)}, max ${ms(t.maxNs)}`,
        );
        await Deno.remove(dir, { recursive: true });
      },
    });
  }
}
