/**
 * `ringside diff A B`: compare two captures of one workload (two back-ends,
 * two kernels, before and after a change) request by request, as replay
 * compares a recording with a target. Requests are paired by opcode and names
 * in capture order; those only one capture has are listed.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";
import { decodeRecorded } from "../../engine/replayer.ts";
import { diffExchanges, pairRecordings } from "../../engine/differ.ts";
import { summarizeRequest } from "../../codecs/fuse/mod.ts";
import { compareTreeStates, type TreeDifference, treeState } from "../../engine/tree_state.ts";
import { readFinalManifest } from "../../engine/snapshot.ts";
import { loadCapture } from "./_replay_io.ts";
import { equivalent, type ReportInput, reportJson, reportLines } from "./_diff_report.ts";

/** The flags of `ringside diff`. */
export interface DiffFlags {
  /** Compare times, inode numbers, generation, listing order. */
  strict?: true;
  /** Final tree of the first run. */
  finalA?: string;
  /** Final tree of the second run. */
  finalB?: string;
  /** Print JSON. */
  json?: true;
}

/** Runs `ringside diff` and returns the report. */
export async function runDiff(a: string, b: string, flags: DiffFlags): Promise<ReportInput> {
  if ((flags.finalA === undefined) !== (flags.finalB === undefined)) {
    throw new UserError("--final-a and --final-b go together", 2);
  }
  const [ca, cb] = [await loadCapture(a), await loadCapture(b)];
  const da = decodeRecorded(ca.exchanges);
  const db = decodeRecorded(cb.exchanges);
  const { exchanges, unpairedB } = pairRecordings(da, db);
  const report = diffExchanges(exchanges, { strict: flags.strict === true });
  // requests only the second capture has count as missing too
  for (const y of unpairedB) {
    if (y.req.op === "FORGET" || y.req.op === "BATCH_FORGET") continue;
    report.missingList.push({
      seq: y.ex.seq,
      op: y.req.op,
      reason: `only in ${b}: ${summarizeRequest(y.req)}`,
    });
    report.missing++;
    report.equivalent = false;
  }
  let final: TreeDifference[] | undefined;
  const notes: string[] = [];
  if (flags.finalA !== undefined) {
    final = compareTreeStates(await treeState(flags.finalA), await treeState(flags.finalB!));
    notes.push(`final state: ${flags.finalA} compared with ${flags.finalB}`);
  } else {
    const [fa, fb] = [await readFinalManifest(a), await readFinalManifest(b)];
    const why = (c: string, f: typeof fa) =>
      f === undefined ? `${c} has no recorded final state` : f.stale;
    const missing = why(a, fa) ?? why(b, fb);
    if (missing !== undefined) notes.push(`final state: not compared (${missing})`);
    else {
      // owners count too: both recordings ran as the users they recorded
      final = compareTreeStates(fa!.manifest, fb!.manifest, { owners: true });
      notes.push("final state: the two recorded final states compared");
    }
  }
  return {
    title: `diff ${a} (${da.length} requests) ↔ ${b} (${db.length} requests)`,
    report,
    final,
    notes,
  };
}

/** Registers `diff` on `program`. */
export function registerDiff(program: Command<[], { debug?: true }>): void {
  program
    .command("diff")
    .description("compare two captures of one workload request by request")
    .argument("<a>", "the first capture (the reference)")
    .argument("<b>", "the second capture")
    .option("--strict", "also compare inode numbers, times, generation and listing order")
    .option("--final-a <dir>", "the first run's final tree (compared with --final-b)")
    .option("--final-b <dir>", "the second run's final tree")
    .option("--json", "print the report as JSON")
    .action(async (a, b, flags) => {
      const input = await runDiff(a, b, flags);
      console.log(flags.json ? reportJson(input) : reportLines(input).join("\n"));
      if (!equivalent(input)) {
        throw new UserError(
          `captures differ: ${input.report.diverged} diverged, ${input.report.missing} missing${
            input.final !== undefined ? `, ${input.final.length} final-state differences` : ""
          }`,
        );
      }
    });
}
