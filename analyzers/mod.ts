/**
 * ringside `analyzers`: reading captures into statistics, protocol checks and
 * a visual report. Every analyzer is a fold over {@linkcode CaptureEvent}s
 * (from {@linkcode readEvents}) in constant memory.
 *
 * - {@linkcode StatsAnalyzer} / {@linkcode formatStats}: `ringside stats`.
 * - {@linkcode CheckAnalyzer} / {@linkcode formatCheck}: `ringside check`.
 * - {@linkcode renderReportHtml}: `ringside report --html`.
 * - `sketch.ts`: the bounded summaries they use.
 *
 * @module
 */
export * from "./events.ts";
export * from "./sketch.ts";
export * from "./stats.ts";
export * from "./check.ts";
export * from "./report_html.ts";
