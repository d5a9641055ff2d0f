/**
 * `ringside stats CAPTURE [--json] [--top N]`: per-opcode counts, errors and
 * latency, bytes moved, busiest files, LOOKUP/FORGET balance, handles never
 * released, requests never answered and the INIT negotiation, from one
 * streaming pass in constant memory (see analyzers/stats.ts). Also the
 * shared reading loop of `check` and `report`.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import cliProgress from "cli-progress";
import process from "node:process";
import { UserError } from "../errors.ts";
import { type CaptureEvent, type EventSummary, readEvents } from "../../analyzers/events.ts";
import { collectStats, formatStats, StatsAnalyzer } from "../../analyzers/stats.ts";
import { toJsonValue } from "../../codecs/fuse/mod.ts";

/** Anything that folds events: an analyzer. */
export interface EventSink {
  /** Takes one event. */
  push(ev: CaptureEvent): void;
}

/** Options for {@linkcode analyzeCapture}. */
export interface AnalyzeOptions {
  /** Show a progress bar on stderr (callers pass true only on a terminal). */
  progress?: boolean;
  /** Command name for messages (`stats`). */
  command?: string;
}

/**
 * Reads the capture at `path` once and feeds every event to each sink;
 * resolves with the read's summary (damage stops the read, see
 * `summary.damage`). A file that cannot be opened or is not a capture is a
 * {@linkcode UserError}.
 */
export async function analyzeCapture(
  path: string,
  sinks: EventSink[],
  options: AnalyzeOptions = {},
): Promise<EventSummary> {
  const cmd = options.command ?? "analyze";
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
    if (!(await file.stat()).isFile) {
      file.close();
      throw new UserError(`${cmd}: ${path} is not a regular file`);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    if (e instanceof Deno.errors.NotFound) throw new UserError(`${cmd}: ${path}: no such file`);
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UserError(`${cmd}: ${path}: permission denied`);
    }
    throw new UserError(`${cmd}: cannot open ${path}: ${(e as Error).message}`);
  }
  let bar: cliProgress.SingleBar | undefined;
  if (options.progress) {
    bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: `${cmd} [{bar}] {percentage}% | {value}/{total} bytes`,
      hideCursor: true,
      clearOnComplete: true,
    }, cliProgress.Presets.shades_classic);
  }
  const stream = readEvents(file, {
    onDamage: "stop",
    // bodies are decoded when an analyzer asks (check asks for all of them)
    bodies: "lazy",
    onProgress: bar === undefined ? undefined : (n, total) => {
      if (total !== undefined && n <= total) {
        if (bar!.getTotal() !== total) bar!.start(total, 0);
        bar!.update(n);
      }
    },
  });
  try {
    if (sinks.length === 1) {
      const s = sinks[0];
      for await (const batch of stream.batches()) for (const ev of batch) s.push(ev);
    } else {
      for await (const batch of stream.batches()) {
        for (const ev of batch) for (const s of sinks) s.push(ev);
      }
    }
  } finally {
    bar?.stop();
    file.close();
  }
  const s = stream.summary;
  if (s.damage !== undefined && s.frames === 0 && s.damage.field === "capture") {
    throw new UserError(`${cmd}: ${path}: ${s.damage.reason}`);
  }
  if (s.format === undefined && s.damage === undefined) {
    throw new UserError(`${cmd}: ${path} is empty`);
  }
  return s;
}

/** Parses `--top`. */
export function parseTop(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 10000) {
    throw new UserError(`--top must be an integer from 1 to 10000, got "${v}"`, 2);
  }
  return n;
}

/** Writes `text` to stdout whole. */
export function writeOut(text: string): void {
  const b = new TextEncoder().encode(text);
  let p = 0;
  while (p < b.length) p += Deno.stdout.writeSync(b.subarray(p));
}

/** Registers `stats` on `program`. */
export function registerStats(program: Command<[], { debug?: true }>): void {
  program
    .command("stats")
    .description(
      "per-opcode counts, errors and latency, bytes, busiest files, leaks, hangs and INIT of a capture",
    )
    .argument("<capture>", "the capture (pcapng, pcap or a raw FUSE stream)")
    .option("--json", "print the report as JSON")
    .option("--top <n>", "rows in each top list (default 20)")
    .option("--no-progress", "never show the progress bar (it shows only on a terminal)")
    .action(async (path, opts) => {
      const stats = new StatsAnalyzer({ top: parseTop(opts.top) });
      const summary = await analyzeCapture(path, [stats], {
        command: "stats",
        progress: opts.progress !== false && Deno.stderr.isTerminal(),
      });
      const report = stats.finish(summary);
      writeOut(
        opts.json
          ? `${JSON.stringify(toJsonValue(report), null, 2)}\n`
          : `${formatStats(report)}\n`,
      );
      if (summary.damage !== undefined) {
        throw new UserError(
          `stats: ${path}: damaged at byte ${summary.damage.offset} after ${summary.frames} good frame(s): ${summary.damage.reason}`,
        );
      }
    });
}

export { collectStats };
