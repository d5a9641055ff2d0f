/**
 * `ringside report CAPTURE --html OUT.html`: one self-contained HTML page
 * (charts by Chart.js, inlined with the data; no network access) from the
 * capture's stats and check findings (see analyzers/report_html.ts).
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
// a type import keeps chart.js in the module graph, so Deno installs it into node_modules
import type { ChartConfiguration as _ChartConfiguration } from "chart.js";
import { createRequire } from "node:module";
import { UserError } from "../errors.ts";
import { CheckAnalyzer } from "../../analyzers/check.ts";
import { StatsAnalyzer } from "../../analyzers/stats.ts";
import { renderReportHtml } from "../../analyzers/report_html.ts";
import { analyzeCapture, parseTop } from "./stats.ts";
import denoJson from "../../deno.json" with { type: "json" };

/** Reads Chart.js's minified UMD build from the installed npm package. */
export async function loadChartJs(): Promise<string> {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve("chart.js");
  } catch (e) {
    throw new UserError(
      `report: cannot find the chart.js package (run deno install): ${(e as Error).message}`,
    );
  }
  const path = main.replace(/[^/\\]+$/, "chart.umd.min.js");
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UserError(`report: cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Options for {@linkcode writeReport}. */
export interface WriteReportOptions {
  /** Rows in each top list (default 15). */
  top?: number;
  /** Show a progress bar on stderr. */
  progress?: boolean;
  /** Page title (default: "ringside report: <capture file name>"). */
  title?: string;
}

/** Analyses `capture` and writes the HTML report to `out`; returns the check's error count. */
export async function writeReport(
  capture: string,
  out: string,
  options: WriteReportOptions = {},
): Promise<{ errors: number; bytes: number }> {
  const chartJs = await loadChartJs();
  const stats = new StatsAnalyzer({ top: options.top ?? 15, maxBuckets: 256 });
  const check = new CheckAnalyzer();
  const summary = await analyzeCapture(capture, [stats, check], {
    command: "report",
    progress: options.progress,
  });
  const checked = check.finish(summary);
  const html = renderReportHtml(stats.finish(summary), checked, {
    chartJs,
    title: options.title ?? `ringside report: ${capture.replace(/^.*[/\\]/, "")}`,
    generator: `ringside ${denoJson.version}`,
  });
  const bytes = new TextEncoder().encode(html);
  try {
    await Deno.writeFile(out, bytes);
  } catch (e) {
    throw new UserError(`report: cannot write ${out}: ${(e as Error).message}`);
  }
  return { errors: checked.errors, bytes: bytes.length };
}

/** Registers `report` on `program`. */
export function registerReport(program: Command<[], { debug?: true }>): void {
  program
    .command("report")
    .description("write a self-contained HTML report (charts, leaks, hangs, findings) of a capture")
    .argument("<capture>", "the capture (pcapng, pcap or a raw FUSE stream)")
    .requiredOption("--html <file>", "where to write the page")
    .option("--top <n>", "rows in each top list (default 15)")
    .option("--title <text>", "page title")
    .option("--no-progress", "never show the progress bar (it shows only on a terminal)")
    .action(async (path, opts) => {
      const r = await writeReport(path, opts.html, {
        top: parseTop(opts.top),
        title: opts.title,
        progress: opts.progress !== false && Deno.stderr.isTerminal(),
      });
      console.error(
        `report: wrote ${opts.html} (${(r.bytes / 1024).toFixed(0)} KiB)` +
          (r.errors > 0 ? `; check found ${r.errors} protocol error(s), listed in the page` : ""),
      );
    });
}
