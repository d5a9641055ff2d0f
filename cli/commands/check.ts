/**
 * `ringside check CAPTURE [--json]`: protocol violations, each with
 * severity, a sentence and frame numbers (see analyzers/check.ts). Exit
 * status 1 when an error-level finding is found (or the capture is damaged),
 * 0 otherwise (warnings alone do not fail).
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { UserError } from "../errors.ts";
import { CheckAnalyzer, formatCheck } from "../../analyzers/check.ts";
import { analyzeCapture, writeOut } from "./stats.ts";

/** Registers `check` on `program`. */
export function registerCheck(program: Command<[], { debug?: true }>): void {
  program
    .command("check")
    .description("find protocol violations in a capture; exit status 1 when errors are found")
    .argument("<capture>", "the capture (pcapng, pcap or a raw FUSE stream)")
    .option("--json", "print the findings as JSON")
    .option("--no-progress", "never show the progress bar (it shows only on a terminal)")
    .action(async (path, opts) => {
      const check = new CheckAnalyzer();
      const summary = await analyzeCapture(path, [check], {
        command: "check",
        progress: opts.progress !== false && Deno.stderr.isTerminal(),
      });
      const report = check.finish(summary);
      writeOut(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatCheck(report)}\n`);
      if (summary.damage !== undefined) {
        throw new UserError(
          `check: ${path}: damaged at byte ${summary.damage.offset} after ${summary.frames} good frame(s): ${summary.damage.reason}`,
        );
      }
      if (report.errors > 0) {
        throw new UserError(
          `check: ${report.errors} protocol error${report.errors === 1 ? "" : "s"} in ${path}`,
        );
      }
    });
}
