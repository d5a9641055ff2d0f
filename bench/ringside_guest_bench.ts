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
 * deno run -A bench/ringside_guest_bench.ts --record-dir /var/tmp --configs tmpfs --baseline ringside-auto
 * ```
 *
 * `--record-dir DIR` adds a row `ringside-record`: cache=auto like
 * `ringside-auto`, recorded to a capture in DIR (what `serve --record`
 * costs a real guest; the capture is removed afterwards and its size printed).
 *
 * Each ringside row is also paired with virtiofsd at the same caching
 * (`--pair`): the ratio within each rep, median and range, since a boot's
 * host memory placement moves the copy-bound rows of both back-ends alike.
 *
 * Arguments are passed on to guest_bench.ts. Under `deno bench` this file
 * registers nothing (it is a script).
 *
 * @module
 */
import { startVhostUserBackend } from "../transports/vhost_user/mod.ts";
import { recorderSpec } from "../engine/recorder.ts";

async function main(args: string[]): Promise<number> {
  let recordDir: string | undefined;
  const at = args.indexOf("--record-dir");
  if (at >= 0) {
    recordDir = args[at + 1];
    if (recordDir === undefined) throw new Error("--record-dir needs a directory");
    args = [...args.slice(0, at), ...args.slice(at + 2)];
  }
  const hostDir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "ringside-guest-bench-" });
  const sockets = { auto: `${hostDir}.auto.sock`, never: `${hostDir}.never.sock` };
  const log = (l: string) => console.error(`ringside: ${l}`);
  // RINGSIDE_SPIN_US: the queue Workers' spin after each burst (default: the back-end's)
  const spinEnv = Deno.env.get("RINGSIDE_SPIN_US");
  const spinMicroseconds = spinEnv === undefined ? undefined : Number(spinEnv);
  // no extended attributes, like `ringside serve` and virtiofsd by default
  const auto = await startVhostUserBackend(sockets.auto, hostDir, {
    passthrough: { cache: "auto", xattr: false },
    log,
    spinMicroseconds,
  });
  const never = await startVhostUserBackend(sockets.never, hostDir, {
    passthrough: { cache: "never", xattr: false },
    log,
    spinMicroseconds,
  });
  const capture = recordDir === undefined
    ? undefined
    : `${recordDir}/ringside-guest-bench-${Deno.pid}.pcapng`;
  const recorded = capture === undefined ? undefined : await startVhostUserBackend(
    `${hostDir}.record.sock`,
    hostDir,
    {
      passthrough: { cache: "auto", xattr: false },
      log,
      spinMicroseconds,
      record: recorderSpec(capture),
    },
  );
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
        ...(recorded === undefined
          ? []
          : ["--vhost-user", `${hostDir}.record.sock=ringside-record`]),
        // each ringside row against virtiofsd with the same caching, rep by rep
        ...(args.includes("--pair")
          ? []
          : ["--pair", "ringside-auto/vfs-auto", "--pair", "ringside-never/vfs-none"]),
        ...args,
      ],
    }).spawn();
    return (await child.status).code;
  } finally {
    await auto.close();
    await never.close();
    if (recorded !== undefined) {
      await recorded.close();
      const size = await Deno.stat(capture!).then((s) => s.size, () => 0);
      console.error(`ringside-record: the capture had ${(size / 1e6).toFixed(1)} MB`);
      await Deno.remove(capture!).catch(() => {});
    }
    await Deno.remove(hostDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
