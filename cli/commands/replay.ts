/**
 * `ringside replay CAPTURE`: run a recorded session again against the engine
 * serving a directory (`--dir`) or any vhost-user-fs back-end
 * (`--target vhost-user:SOCKET`), and report every divergence.
 *
 * Initial state: when the capture names a snapshot (recorded with
 * `--snapshot`), an empty or absent `--dir` (or `--backend-dir`, the
 * directory a `--target` back-end serves) is filled from it and a non-empty
 * one must match it (refused with the first differences, unless `--force`).
 *
 * Final state: the tree after the replay is compared with the recording's
 * final-state manifest (`CAPTURE.final.json`, written when the recording
 * ended), or with `--expect-final DIR` when given. Exit status 0 only when
 * the replay is equivalent.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";
import { replay, type ReplayResult } from "../../engine/replayer.ts";
import { createDiffer } from "../../engine/differ.ts";
import { compareTreeStates, type TreeDifference, treeState } from "../../engine/tree_state.ts";
import type { SnapshotReference } from "../../engine/recorder.ts";
import {
  finalManifestPath,
  openSnapshot,
  readFinalManifest,
  restoreSnapshot,
  type Snapshot,
  type SnapshotDifference,
  verifySnapshot,
} from "../../engine/snapshot.ts";
import { openTarget, streamCapture } from "./_replay_io.ts";
import { equivalent, type ReportInput, reportJson, reportLines } from "./_diff_report.ts";

/** The flags of `ringside replay`. */
export interface ReplayFlags {
  /** Serve this directory with the engine in process. */
  dir?: string;
  /** `vhost-user:SOCKET`. */
  target?: string;
  /** The directory a vhost-user target serves (for the initial and final state). */
  backendDir?: string;
  /** `asap` or `original`. */
  timing?: string;
  /** Speed factor for original timing. */
  speed?: string;
  /** Requests in flight. */
  concurrency?: string;
  /** Compare times, inode numbers, generation, listing order. */
  strict?: true;
  /** Replay even when the directory does not match the capture's snapshot. */
  force?: true;
  /** Compare the final tree with this directory. */
  expectFinal?: string;
  /** Print JSON. */
  json?: true;
}

function positive(flag: string, v: string | undefined, fallback: number, integer: boolean): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new UserError(
      `${flag} must be a positive ${integer ? "integer" : "number"}, got "${v}"`,
      2,
    );
  }
  return n;
}

async function isEmptyOrAbsent(dir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(dir)) return false;
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    if (e instanceof Error && /not a directory/i.test(e.message)) {
      throw new UserError(`${dir} is not a directory`);
    }
    throw e;
  }
}

/** The first `n` snapshot differences, one line. */
export function differencesLine(diffs: readonly SnapshotDifference[], n = 3): string {
  const shown = diffs.slice(0, n).map((d) => {
    if (d.what === "missing") return `${d.path} missing`;
    if (d.what === "extra") return `${d.path} extra`;
    const short = (v: string | undefined) =>
      v === undefined ? "-" : d.what === "content" ? v.slice(0, 12) : v;
    return `${d.path} ${d.what} ${short(d.expected)}→${short(d.actual)}`;
  });
  return shown.join(", ") + (diffs.length > n ? `, … ${diffs.length - n} more` : "");
}

/**
 * Brings `dir` to the capture's initial state, or checks it is there: an
 * empty or absent directory gets the snapshot restored into it; any other
 * must match it (refused with the first differences unless `force`).
 */
async function prepareState(
  capture: string,
  snapshot: SnapshotReference | undefined,
  dir: string,
  force: boolean,
): Promise<string[]> {
  if (snapshot === undefined) {
    return [
      "initial state: the capture names no snapshot; replaying against the directory as it is",
    ];
  }
  const base = capture.includes("/") ? capture.slice(0, capture.lastIndexOf("/")) : ".";
  const path = snapshot.path.startsWith("/") ? snapshot.path : `${base}/${snapshot.path}`;
  let snap: Snapshot;
  try {
    snap = await openSnapshot(path, { expectSha256: snapshot.manifestSha256 });
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "it is not there"
      : e instanceof Error
      ? e.message
      : String(e);
    throw new UserError(`${capture} names snapshot ${path}: ${why}`);
  }
  if (await isEmptyOrAbsent(dir)) {
    await restoreSnapshot(snap, dir);
    return [
      `initial state: restored snapshot ${path} (${snap.manifest.entries.length} entries) into ${dir}`,
    ];
  }
  const diffs = await verifySnapshot(snap, dir, { owners: Deno.uid() === 0 });
  if (diffs.length === 0) return [`initial state: ${dir} matches snapshot ${path}`];
  const n = `${diffs.length} difference${diffs.length === 1 ? "" : "s"}`;
  if (!force) {
    throw new UserError(
      `${dir} does not match the capture's snapshot ${path} (${n}: ${
        differencesLine(diffs)
      }); give an empty directory to restore it, or --force`,
    );
  }
  return [
    `initial state: ${dir} differs from snapshot ${path} (--force): ${n}: ${
      differencesLine(diffs)
    }`,
  ];
}

/** Runs `ringside replay` and returns the report (printing is left to the caller). */
export async function runReplay(
  capture: string,
  flags: ReplayFlags,
): Promise<{ input: ReportInput; result: ReplayResult }> {
  const timing = flags.timing ?? "asap";
  if (timing !== "asap" && timing !== "original") {
    throw new UserError(`--timing must be asap or original, got "${timing}"`, 2);
  }
  if (flags.speed !== undefined && timing !== "original") {
    throw new UserError("--speed needs --timing original", 2);
  }
  const speed = positive("--speed", flags.speed, 1, false);
  const concurrency = positive("--concurrency", flags.concurrency, 1, true);
  if (flags.backendDir !== undefined && flags.target === undefined) {
    throw new UserError("--backend-dir goes with --target (with --dir, the directory is known)", 2);
  }
  // the capture is read as the replay goes: it is never held whole in memory
  const loaded = await streamCapture(capture);
  const stateDir = flags.dir ?? flags.backendDir;
  const notes: string[] = [];
  if (stateDir !== undefined) {
    notes.push(...await prepareState(capture, loaded.snapshot, stateDir, flags.force === true));
  } else if (loaded.snapshot !== undefined) {
    notes.push(
      "initial state: not checked (give --backend-dir for the directory the back-end serves)",
    );
  }
  const open = await openTarget({ dir: flags.dir, target: flags.target });
  const differ = createDiffer({ strict: flags.strict === true });
  let result: ReplayResult;
  try {
    result = await replay(loaded.exchanges, open.target, {
      onExchange: (x) => differ.add(x),
      timing,
      speed,
      concurrency,
    });
  } finally {
    await open.close();
  }
  const report = differ.finish();
  if (result.total === 0) {
    throw new UserError(
      `${capture}: no FUSE requests found${
        loaded.counts.damage ? ` (damaged: ${loaded.counts.damage})` : ""
      }`,
    );
  }
  if (loaded.counts.unanswered > 0) {
    notes.push(`the capture has ${loaded.counts.unanswered} unanswered requests`);
  }
  if (loaded.counts.damage !== undefined) {
    notes.push(`the capture is damaged: replayed up to the damage (${loaded.counts.damage})`);
  }
  let final: TreeDifference[] | undefined;
  if (flags.expectFinal !== undefined) {
    if (stateDir === undefined) {
      throw new UserError(
        "--expect-final needs the target's directory (--dir or --backend-dir)",
        2,
      );
    }
    final = compareTreeStates(await treeState(flags.expectFinal), await treeState(stateDir));
    notes.push(`final state: compared with ${flags.expectFinal}`);
  } else {
    const recorded = await readFinalManifest(capture);
    if (recorded === undefined) {
      notes.push(
        `final state: not compared (${capture} has no recorded final state ${
          finalManifestPath(capture)
        }; --expect-final DIR compares with a directory)`,
      );
    } else if (recorded.stale !== undefined) {
      notes.push(`final state: not compared (${recorded.stale})`);
    } else if (stateDir === undefined) {
      notes.push("final state: not compared (give --backend-dir for the back-end's directory)");
    } else {
      final = compareTreeStates(recorded.manifest, await treeState(stateDir));
      notes.push(`final state: compared with the recorded ${finalManifestPath(capture)}`);
    }
  }
  const title = `replay ${capture} → ${open.target.description}: ${result.total} requests, ` +
    `FUSE 7.${result.recordedMinor} recorded, 7.${result.targetMinor} negotiated, ` +
    `${timing}${timing === "original" ? ` x${speed}` : ""}, concurrency ${concurrency}, ` +
    `${(result.durationNs / 1e6).toFixed(1)} ms`;
  return { input: { title, report, final, timing: result.timing, notes }, result };
}

/** Registers `replay` on `program`. */
export function registerReplay(program: Command<[], { debug?: true }>): void {
  program
    .command("replay")
    .description(
      "run a captured session again against a directory (the engine) or a vhost-user back-end, " +
        "and report every divergence",
    )
    .argument("<capture>", "capture file (pcapng, pcap or raw FUSE stream)")
    .option("--dir <dir>", "serve this directory with the engine in process")
    .option("--target <target>", "vhost-user:SOCKET: any vhost-user-fs back-end")
    .option("--backend-dir <dir>", "the directory a --target back-end serves (initial/final state)")
    .option("--timing <mode>", "asap (default) or original (recorded inter-arrival times)")
    .option("--speed <x>", "with --timing original: play x times faster")
    .option("--concurrency <n>", "requests in flight; independent requests run in parallel")
    .option("--strict", "also compare inode numbers, times, generation and listing order")
    .option("--force", "replay even when the directory does not match the capture's snapshot")
    .option(
      "--expect-final <dir>",
      "compare the final tree with this directory (default: the recorded CAPTURE.final.json)",
    )
    .option("--json", "print the report as JSON")
    .action(async (capture, flags) => {
      const { input } = await runReplay(capture, flags);
      console.log(flags.json ? reportJson(input) : reportLines(input).join("\n"));
      if (!equivalent(input)) {
        throw new UserError(
          `replay is not equivalent: ${input.report.diverged} diverged, ${input.report.missing} missing${
            input.final !== undefined ? `, ${input.final.length} final-state differences` : ""
          }`,
        );
      }
    });
}
