/**
 * The in-guest benchmark (bench/guest_bench.ts, guest/fsbench.c) with
 * ringside rows: starts ringside's vhost-user back-end in this process with
 * cache=auto and cache=never on the benchmark's host directory, then runs
 * guest_bench.ts with those two sockets as extra rows beside virtiofsd
 * (auto/none) and 9p, so one table shows them side by side with ratios.
 *
 * ```sh
 * deno run -A bench/ringside_guest_bench.ts                 # 3 reps, default fsbench sizes
 * deno run -A bench/ringside_guest_bench.ts --reps 1 -- -n 500
 * ```
 *
 * Arguments are passed on to guest_bench.ts. Under `deno bench` this file
 * registers nothing (it is a script).
 *
 * @module
 */
import { startVhostUserBackend } from "../transports/vhost_user/mod.ts";

async function main(args: string[]): Promise<number> {
  const hostDir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ringside-guest-bench-" });
  const sockets = { auto: `${hostDir}.auto.sock`, never: `${hostDir}.never.sock` };
  const log = (l: string) => console.error(`ringside: ${l}`);
  // RINGSIDE_SPIN_US: the queue Workers' spin after each burst (default: the back-end's)
  const spinEnv = Deno.env.get("RINGSIDE_SPIN_US");
  const spinMicroseconds = spinEnv === undefined ? undefined : Number(spinEnv);
  const auto = await startVhostUserBackend(sockets.auto, hostDir, {
    passthrough: { cache: "auto" },
    log,
    spinMicroseconds,
  });
  const never = await startVhostUserBackend(sockets.never, hostDir, {
    passthrough: { cache: "never" },
    log,
    spinMicroseconds,
  });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./guest_bench.ts", import.meta.url).pathname,
        "--hostdir",
        hostDir,
        "--vhost-user",
        `${sockets.auto}=ringside-auto`,
        "--vhost-user",
        `${sockets.never}=ringside-never`,
        ...args,
      ],
    }).spawn();
    return (await child.status).code;
  } finally {
    await auto.close();
    await never.close();
    await Deno.remove(hostDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
