/**
 * Private: printing a {@linkcode DiffReport} (and the final-state
 * differences) as text or JSON, shared by `replay`, `diff` and `demo`.
 *
 * @module
 */
import { toJsonValue } from "../../codecs/fuse/mod.ts";
import type { DiffReport } from "../../engine/differ.ts";
import type { TimingError } from "../../engine/replayer.ts";
import type { TreeDifference } from "../../engine/tree_state.ts";

/** Everything a replay or diff report says. */
export interface ReportInput {
  /** What was compared with what (one line). */
  title: string;
  /** The per-request comparison. */
  report: DiffReport;
  /** Final-state differences, when the final state was compared. */
  final?: TreeDifference[];
  /** Timing error of an `original` replay. */
  timing?: TimingError;
  /** Extra lines (notes) to print after the title. */
  notes?: string[];
}

/** True when the report says the two runs are equivalent. */
export function equivalent(r: ReportInput): boolean {
  return r.report.equivalent && (r.final === undefined || r.final.length === 0);
}

function us(ns: number): string {
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} µs`;
}

/** The report as text lines. */
export function reportLines(r: ReportInput, options: { maxDivergences?: number } = {}): string[] {
  const { report } = r;
  const out: string[] = [r.title, ...(r.notes ?? [])];
  out.push(
    `requests: ${report.total}  matched: ${report.matched}  diverged: ${report.diverged}  missing: ${report.missing}`,
  );
  const max = options.maxDivergences ?? 50;
  for (const d of report.divergences.slice(0, max)) {
    out.push(
      `  #${d.seq} ${d.op}${d.args === "" ? "" : ` ${d.args}`} (node ${d.nodeid}): ${d.field}`,
    );
    out.push(`      expected ${d.expected}`);
    out.push(`      actual   ${d.actual}`);
    if (d.context.length > 0) out.push(`      before:  ${d.context.join("; ")}`);
  }
  if (report.divergences.length > max) {
    out.push(`  … ${report.divergences.length - max} more divergences (--json lists them all)`);
  }
  for (const m of report.missingList.slice(0, max)) {
    out.push(`  #${m.seq} ${m.op}: missing (${m.reason})`);
  }
  if (report.missingList.length > max) {
    out.push(`  … ${report.missingList.length - max} more missing`);
  }
  if (r.final !== undefined) {
    out.push(
      r.final.length === 0
        ? "final state: identical"
        : `final state: ${r.final.length} difference${r.final.length === 1 ? "" : "s"}`,
    );
    for (const f of r.final.slice(0, max)) {
      out.push(`  ${f.path}: ${f.field} expected ${f.expected}, actual ${f.actual}`);
    }
  }
  if (r.timing !== undefined) {
    out.push(
      `timing: requests issued late by ${us(r.timing.meanNs)} on average, p99 ${
        us(r.timing.p99Ns)
      }, max ${us(r.timing.maxNs)}`,
    );
  }
  out.push(equivalent(r) ? "equivalent" : "NOT equivalent");
  return out;
}

/** The report as one JSON document (stable keys). */
export function reportJson(r: ReportInput): string {
  return JSON.stringify(
    toJsonValue({
      title: r.title,
      notes: r.notes ?? [],
      equivalent: equivalent(r),
      counts: {
        total: r.report.total,
        matched: r.report.matched,
        diverged: r.report.diverged,
        missing: r.report.missing,
      },
      divergences: r.report.divergences,
      missing: r.report.missingList,
      final: r.final ?? null,
      timing: r.timing ?? null,
    }),
    null,
    2,
  );
}
