/**
 * `ringside report`: one self-contained HTML page from a capture's
 * {@linkcode StatsReport} and {@linkcode CheckReport}: summary cards, a
 * timeline of operations coloured by opcode, throughput, in-flight depth per
 * queue, latency histograms per opcode, the busiest files, the LOOKUP/FORGET
 * balance, handles never released, requests never answered, the INIT
 * negotiation and check's findings.
 *
 * The charts are drawn by Chart.js, whose minified UMD build the caller
 * passes in (`chartJs`) and which is inlined into the page with the data:
 * the page loads nothing from anywhere. Pure: no I/O here.
 *
 * @module
 */
import type { CheckReport } from "./check.ts";
import { formatBytes, formatNs, type StatsReport } from "./stats.ts";

/** Options for {@linkcode renderReportHtml}. */
export interface ReportOptions {
  /** The Chart.js UMD build (`chart.umd.min.js`) to inline. */
  chartJs: string;
  /** Page title (default: "ringside report"). */
  title?: string;
  /** A line saying what made the page (e.g. `ringside 0.1.0`). */
  generator?: string;
  /** Opcodes in the timeline before the rest become "other" (default 9). */
  timelineOpcodes?: number;
}

/** Colours for opcodes: distinct, readable on white, colour-blind friendlier first (Okabe-Ito, then Tableau). */
const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#CC79A7",
  "#56B4E9",
  "#D55E00",
  "#F0E442",
  "#8c564b",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
  "#9467bd",
];
const OTHER_COLOUR = "#c7c7c7";

function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** JSON that is safe inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replaceAll("<", "\\u003c").replaceAll("\u2028", "\\u2028")
    .replaceAll("\u2029", "\\u2029");
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** The data the page's script turns into charts. */
interface PageData {
  timeline: { labels: number[]; datasets: { label: string; color: string; data: number[] }[] };
  throughput: { labels: number[]; read: number[]; write: number[] };
  inflight: { labels: number[]; datasets: { label: string; color: string; data: number[] }[] };
  latency: { op: string; color: string; labels: string[]; counts: number[]; caption: string }[];
  topOps: { labels: string[]; values: number[] };
  topBytes: { labels: string[]; values: number[] };
  balance: { labels: string[]; values: number[] };
}

function pageData(s: StatsReport, opts: ReportOptions): PageData {
  const series = s.series;
  const n = series.columns.ops?.length ?? 0;
  const labels = Array.from({ length: n }, (_, i) => round((i * series.bucketNs) / 1e9, 4));
  const colour = new Map<string, string>();
  s.opcodes.forEach((o, i) => colour.set(o.op, PALETTE[i % PALETTE.length]));
  const keep = opts.timelineOpcodes ?? 9;
  const ops = s.opcodes.filter((o) => o.requests > 0);
  const shown = ops.slice(0, keep);
  const rest = ops.slice(keep);
  const datasets = shown.map((o) => ({
    label: o.op,
    color: colour.get(o.op)!,
    data: (series.columns[`op:${o.op}`] ?? []).slice(0, n),
  }));
  if (rest.length > 0) {
    const other = new Array<number>(n).fill(0);
    for (const o of rest) {
      const col = series.columns[`op:${o.op}`] ?? [];
      for (let i = 0; i < n; i++) other[i] += col[i] ?? 0;
    }
    datasets.push({ label: `other (${rest.length} opcodes)`, color: OTHER_COLOUR, data: other });
  }
  const perSecond = 1e9 / series.bucketNs;
  const mbps = (col: number[] | undefined) =>
    Array.from({ length: n }, (_, i) => round(((col?.[i] ?? 0) * perSecond) / 1e6, 3));
  const queues = Object.keys(series.columns).filter((k) => k.startsWith("inflight:")).sort();
  const inflight = queues.map((k, i) => ({
    label: k.slice("inflight:".length),
    color: PALETTE[(i + 4) % PALETTE.length],
    data: series.columns[k].slice(0, n),
  }));
  const latency = s.opcodes
    .filter((o) => o.latency.count > 0)
    .sort((a, b) => b.latency.count - a.latency.count)
    .slice(0, 12)
    .map((o) => ({
      op: o.op,
      color: colour.get(o.op)!,
      labels: o.histogram.map((b) => formatNs(b.low)),
      counts: o.histogram.map((b) => b.count),
      caption: `${o.latency.count} replies · p50 ${formatNs(o.latency.p50)} · p99 ${
        formatNs(o.latency.p99)
      } · max ${formatNs(o.latency.max)}`,
    }));
  const short = (p: string) => (p.length > 48 ? "…" + p.slice(p.length - 47) : p);
  const lk = s.lookups;
  return {
    timeline: { labels, datasets },
    throughput: {
      labels,
      read: mbps(series.columns.read_bytes),
      write: mbps(series.columns.write_bytes),
    },
    inflight: { labels, datasets: inflight },
    latency,
    topOps: {
      labels: s.top_files.by_ops.map((f) => short(at(s, f))),
      values: s.top_files.by_ops.map((f) => f.value),
    },
    topBytes: {
      labels: s.top_files.by_bytes.map((f) => short(at(s, f))),
      values: s.top_files.by_bytes.map((f) => round(f.value / 1024, 1)),
    },
    balance: {
      labels: ["lookup references given", "given back by FORGET", "still held at the end"],
      values: [lk.lookups, lk.forgets, lk.held_references],
    },
  };
}

function card(label: string, value: string, tone = ""): string {
  return `<div class="card ${tone}"><div class="v">${escapeHtml(value)}</div><div class="l">${
    escapeHtml(label)
  }</div></div>`;
}

function table(head: string[], rows: string[][], numeric: boolean[] = []): string {
  const th = head.map((h, i) => `<th${numeric[i] ? ' class="n"' : ""}>${escapeHtml(h)}</th>`)
    .join("");
  const body = rows.map((r) =>
    `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="n"' : ""}>${c}</td>`).join("")}</tr>`
  ).join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

function chartBox(id: string, title: string, note = "", tall = false): string {
  return `<section class="panel"><h2>${escapeHtml(title)}</h2>${
    note ? `<p class="note">${escapeHtml(note)}</p>` : ""
  }<div class="chart${tall ? " tall" : ""}"><canvas id="${id}"></canvas></div></section>`;
}

function empty(title: string, why: string): string {
  return `<section class="panel"><h2>${escapeHtml(title)}</h2><p class="note">${
    escapeHtml(why)
  }</p></section>`;
}

const STYLE = `
:root { --ink:#1d2433; --muted:#5b6578; --line:#e3e7ee; --bg:#f5f7fa; --accent:#0072B2; --bad:#c0392b; --warn:#b9770e; --good:#1e8449; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1d2433; color:#fff; padding:18px 28px; }
header h1 { margin:0; font-size:20px; font-weight:600; }
header .sub { color:#aab4c5; font-size:13px; margin-top:4px; }
main { padding:20px 28px 40px; max-width:1500px; margin:0 auto; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap:12px; margin-bottom:18px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .v { font-size:22px; font-weight:600; }
.card .l { color:var(--muted); font-size:12px; }
.card.bad .v { color:var(--bad); } .card.warn .v { color:var(--warn); } .card.good .v { color:var(--good); }
.grid { display:grid; grid-template-columns: 1fr 1fr; gap:16px; }
.grid.three { grid-template-columns: repeat(3, 1fr); }
.panel { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin-bottom:16px; min-width:0; }
.panel h2 { font-size:15px; margin:0 0 8px; }
.panel h3 { font-size:13px; margin:0 0 4px; }
.note { color:var(--muted); margin:0 0 8px; font-size:12.5px; }
.chart { position:relative; height:260px; }
.chart.tall { height:340px; }
.chart.small { height:170px; }
table { border-collapse:collapse; width:100%; font-size:12.5px; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; background:#fafbfc; }
td.n, th.n { text-align:right; font-variant-numeric: tabular-nums; }
td code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size:12px; }
.sev { display:inline-block; padding:1px 7px; border-radius:10px; font-size:11px; font-weight:600; color:#fff; }
.sev.error { background:var(--bad); } .sev.warning { background:var(--warn); }
.flags { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:11.5px; line-height:1.7; }
.flag { display:inline-block; background:#eef3f8; border-radius:4px; padding:0 5px; margin:0 3px 3px 0; }
.flag.no { background:#f6eeee; color:#8a3b3b; }
.ok { color:var(--good); font-weight:600; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:6px; vertical-align:middle; }
@media (max-width: 1000px) { .grid, .grid.three { grid-template-columns: 1fr; } }
`;

/** The page's own script: builds every chart from the embedded data, without animation. */
const SCRIPT = `
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("ringside-data").textContent);
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 11;
  Chart.defaults.color = "#5b6578";
  Chart.defaults.plugins.legend.labels.boxWidth = 10;
  var made = [];
  function make(id, config) {
    var el = document.getElementById(id);
    if (!el) return;
    var c = new Chart(el, config);
    var points = 0;
    config.data.datasets.forEach(function (d) { points += d.data.length; });
    made.push({ id: id, points: points });
    return c;
  }
  var secondsAxis = { type: "linear", title: { display: true, text: "seconds from the first frame" }, ticks: { maxTicksLimit: 12 } };
  function xy(labels, data) { return data.map(function (v, i) { return { x: labels[i], y: v }; }); }
  if (D.timeline.datasets.length) make("timeline", {
    type: "bar",
    data: { datasets: D.timeline.datasets.map(function (d) { return { label: d.label, data: xy(D.timeline.labels, d.data), backgroundColor: d.color, borderWidth: 0, barPercentage: 1, categoryPercentage: 1 }; }) },
    options: { parsing: true, scales: { x: Object.assign({ stacked: true, offset: false }, secondsAxis), y: { stacked: true, title: { display: true, text: "requests per bucket" } } }, plugins: { legend: { position: "right" } } }
  });
  if (D.throughput.read.some(function (v) { return v > 0; }) || D.throughput.write.some(function (v) { return v > 0; })) make("throughput", {
    type: "line",
    data: { datasets: [
      { label: "read MB/s", data: xy(D.throughput.labels, D.throughput.read), borderColor: "#0072B2", backgroundColor: "rgba(0,114,178,0.15)", fill: true, pointRadius: 0, borderWidth: 1.5 },
      { label: "written MB/s", data: xy(D.throughput.labels, D.throughput.write), borderColor: "#D55E00", backgroundColor: "rgba(213,94,0,0.12)", fill: true, pointRadius: 0, borderWidth: 1.5 }
    ] },
    options: { scales: { x: secondsAxis, y: { beginAtZero: true, title: { display: true, text: "MB/s" } } } }
  });
  if (D.inflight.datasets.length) make("inflight", {
    type: "line",
    data: { datasets: D.inflight.datasets.map(function (d) { return { label: d.label, data: xy(D.inflight.labels, d.data), borderColor: d.color, backgroundColor: d.color, stepped: true, pointRadius: 0, borderWidth: 1.5 }; }) },
    options: { scales: { x: secondsAxis, y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "requests in flight (max per bucket)" } } } }
  });
  D.latency.forEach(function (h, i) {
    make("lat" + i, {
      type: "bar",
      data: { labels: h.labels, datasets: [{ label: h.op, data: h.counts, backgroundColor: h.color, borderWidth: 0, barPercentage: 1, categoryPercentage: 0.95 }] },
      options: { plugins: { legend: { display: false } }, scales: { x: { ticks: { maxTicksLimit: 6, maxRotation: 0 } }, y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  });
  function hbar(id, t, label, colour) {
    if (!t.values.length) return;
    make(id, {
      type: "bar",
      data: { labels: t.labels, datasets: [{ label: label, data: t.values, backgroundColor: colour, borderWidth: 0 }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, title: { display: true, text: label } }, y: { ticks: { font: { family: "monospace", size: 10.5 } } } } }
    });
  }
  hbar("topops", D.topOps, "requests", "#0072B2");
  hbar("topbytes", D.topBytes, "KiB moved (read + written)", "#009E73");
  make("balance", {
    type: "bar",
    data: { labels: D.balance.labels, datasets: [{ label: "references", data: D.balance.values, backgroundColor: ["#0072B2", "#009E73", "#D55E00"], borderWidth: 0 }] },
    options: { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  window.__ringsideReport = { ready: true, charts: made };
})();
`;

/** A path for people: with its session when the capture holds several. */
function at(stats: StatsReport, x: { session: number; path: string }): string {
  return stats.capture.sessions > 1 ? `[session ${x.session}] ${x.path}` : x.path;
}

/**
 * The report page as one HTML string (the Chart.js build, the data and the
 * script inlined; no external resource).
 *
 * @example
 * ```ts
 * import { renderReportHtml } from "./report_html.ts";
 * import { StatsAnalyzer } from "./stats.ts";
 * import { CheckAnalyzer } from "./check.ts";
 * const html = renderReportHtml(new StatsAnalyzer().finish(), new CheckAnalyzer().finish(), {
 *   chartJs: "/* chart.umd.min.js *\/",
 * });
 * console.log(html.startsWith("<!doctype html>")); // true
 * ```
 */
export function renderReportHtml(
  stats: StatsReport,
  check: CheckReport,
  options: ReportOptions,
): string {
  const title = options.title ?? "ringside report";
  const data = pageData(stats, options);
  const c = stats.capture;
  const t = stats.totals;
  const start = c.start_ns !== undefined
    ? new Date(Number(BigInt(c.start_ns) / 1_000_000n)).toISOString().replace("T", " ").replace(
      "Z",
      " UTC",
    )
    : "no timestamps";
  const findings = check.errors + check.warnings;
  const cards = [
    card("frames", String(c.frames)),
    card("duration", `${c.duration_s.toFixed(3)} s`),
    card("FUSE requests", String(t.requests)),
    card("error replies", String(t.errors), t.errors > 0 ? "warn" : ""),
    card("read", formatBytes(t.bytes_read)),
    card("written", formatBytes(t.bytes_written)),
    card("p99 latency (all)", stats.latency.count > 0 ? formatNs(stats.latency.p99) : "-"),
    card(
      "never answered",
      String(stats.unanswered.count),
      stats.unanswered.count > 0 ? "bad" : "good",
    ),
    card("inodes still held", String(stats.lookups.held_nodes)),
    card("handles not released", String(stats.handles.open_at_end)),
    card(
      "check findings",
      findings === 0 ? "none" : `${check.errors} err · ${check.warnings} warn`,
      check.errors > 0 ? "bad" : findings > 0 ? "warn" : "good",
    ),
  ].join("");

  const parts: string[] = [];
  parts.push(`<div class="cards">${cards}</div>`);
  if (c.damage !== undefined) {
    parts.push(
      `<section class="panel"><h2>Damage</h2><p>${
        escapeHtml(c.damage)
      }: everything below covers the capture up to there.</p></section>`,
    );
  }
  parts.push(
    data.timeline.datasets.length > 0
      ? chartBox(
        "timeline",
        "Timeline of operations",
        `Requests per ${formatNs(stats.series.bucketNs)} bucket, coloured by opcode.`,
        true,
      )
      : empty("Timeline of operations", "The capture holds no FUSE request."),
  );
  const tp = data.throughput.read.some((v) => v > 0) || data.throughput.write.some((v) => v > 0);
  parts.push(
    `<div class="grid">${
      tp
        ? chartBox("throughput", "Throughput", "READ and WRITE payload bytes per second.")
        : empty("Throughput", "No READ or WRITE data moved.")
    }${
      data.inflight.datasets.length > 0
        ? chartBox(
          "inflight",
          "In-flight requests per queue",
          "Greatest number of requests waiting for a reply in each bucket.",
        )
        : empty("In-flight requests per queue", "No request expecting a reply.")
    }</div>`,
  );
  if (data.latency.length > 0) {
    const boxes = data.latency.map((h, i) =>
      `<div class="panel"><h3><span class="swatch" style="background:${h.color}"></span>${
        escapeHtml(h.op)
      }</h3><p class="note">${
        escapeHtml(h.caption)
      }</p><div class="chart small"><canvas id="lat${i}"></canvas></div></div>`
    ).join("");
    parts.push(
      `<section class="panel"><h2>Latency per opcode</h2><p class="note">Request to reply, log-scale buckets (lower bound shown).</p><div class="grid three">${boxes}</div></section>`,
    );
  }
  const opRows = stats.opcodes.map((o) => {
    const l = o.latency;
    const has = l.count > 0;
    return [
      `<code>${escapeHtml(o.op)}</code>`,
      String(o.requests),
      String(o.errors),
      has ? formatNs(l.p50) : "-",
      has ? formatNs(l.p90) : "-",
      has ? formatNs(l.p99) : "-",
      has ? formatNs(l.max) : "-",
      escapeHtml(Object.entries(o.errnos).map(([k, v]) => `${k} ${v}`).join(", ")),
    ];
  });
  parts.push(
    `<section class="panel"><h2>Opcodes</h2>${
      table(
        ["opcode", "requests", "errors", "p50", "p90", "p99", "max", "errors by errno"],
        opRows,
        [false, true, true, true, true, true, true, false],
      )
    }</section>`,
  );
  parts.push(
    `<div class="grid">${
      data.topOps.values.length > 0
        ? chartBox(
          "topops",
          "Top files by operations",
          "Paths rebuilt from entry replies (LOOKUP, CREATE, MKDIR, …) and followed through renames; (deleted) marks an unlinked name.",
          true,
        )
        : empty("Top files by operations", "No request named a node.")
    }${
      data.topBytes.values.length > 0
        ? chartBox("topbytes", "Top files by bytes", "READ and WRITE payload per file.", true)
        : empty("Top files by bytes", "No READ or WRITE data moved.")
    }</div>`,
  );
  const lk = stats.lookups;
  const held = lk.held.map((
    h,
  ) => [`<code>${escapeHtml(at(stats, h))}</code>`, h.nodeid, String(h.nlookup)]);
  parts.push(
    `<div class="grid">${
      chartBox(
        "balance",
        "LOOKUP/FORGET balance",
        `${lk.held_nodes} inodes still held at the end (${lk.held_references} references)` +
          (lk.unknown_forgets > 0 ? `; ${lk.unknown_forgets} FORGETs of inodes never seen` : ""),
      )
    }<section class="panel"><h2>Most-held inodes</h2>${
      held.length > 0
        ? table(["path", "node id", "references"], held, [false, true, true])
        : '<p class="ok">Every inode looked up was forgotten.</p>'
    }</section></div>`,
  );
  const hd = stats.handles;
  const handleRows = hd.open.map((h) => [
    h.fh,
    h.kind,
    `<code>${escapeHtml(at(stats, h))}</code>`,
    String(h.frame),
  ]);
  const un = stats.unanswered;
  const unRows = un.requests.map((u) => [
    String(u.frame),
    `<code>${escapeHtml(u.op)}</code>`,
    u.unique,
    `<code>${escapeHtml(at(stats, u))}</code>`,
    escapeHtml(u.queue),
    formatNs(u.waited_ns),
  ]);
  parts.push(
    `<div class="grid"><section class="panel"><h2>Requests never answered</h2><p class="note">${un.count} request(s) still waiting when the capture ends, longest wait first.</p>${
      unRows.length > 0
        ? table(["frame", "opcode", "unique", "path", "queue", "waited"], unRows, [
          true,
          false,
          true,
          false,
          false,
          true,
        ])
        : '<p class="ok">Every request was answered.</p>'
    }</section><section class="panel"><h2>Handles never released</h2><p class="note">${hd.opened} opened, ${hd.released} released, ${hd.open_at_end} still open at the end.</p>${
      handleRows.length > 0
        ? table(["fh", "kind", "path", "opened at frame"], handleRows, [true, false, false, true])
        : '<p class="ok">Every handle was released.</p>'
    }</section></div>`,
  );
  if (stats.init !== undefined) {
    const i = stats.init;
    const flags = (xs: string[], cls = "") =>
      xs.length === 0
        ? '<span class="note">(none)</span>'
        : xs.map((f) => `<span class="flag ${cls}">${escapeHtml(f)}</span>`).join("");
    const rows = [
      ["kernel", escapeHtml(i.kernel)],
      [
        "server",
        escapeHtml(i.server ?? "did not answer") + (i.error ? ` (${escapeHtml(i.error)})` : ""),
      ],
      ["negotiated", i.negotiated_minor !== undefined ? `7.${i.negotiated_minor}` : "-"],
      ["agreed", `<div class="flags">${flags(i.agreed)}</div>`],
      ["offered, declined", `<div class="flags">${flags(i.declined, "no")}</div>`],
      ...(i.unsolicited.length > 0
        ? [["set by the server unasked", `<div class="flags">${flags(i.unsolicited, "no")}</div>`]]
        : []),
      [
        "limits",
        `<span class="mono">${
          escapeHtml(Object.entries(i.limits).map(([k, v]) => `${k}=${v}`).join("  "))
        }</span>`,
      ],
    ];
    parts.push(
      `<section class="panel"><h2>INIT negotiation (frame ${i.frame})</h2>${
        table(["", ""], rows)
      }</section>`,
    );
  }
  const fRows = check.findings.map((f) => [
    `<span class="sev ${f.severity}">${f.severity}</span>`,
    `<code>${escapeHtml(f.code)}</code>`,
    f.frames.join(", "),
    escapeHtml(f.message),
  ]);
  parts.push(
    `<section class="panel"><h2>Findings from check</h2>${
      fRows.length > 0
        ? table(["severity", "code", "frames", "what"], fRows) +
          (check.unlisted > 0 ? `<p class="note">${check.unlisted} more not listed.</p>` : "")
        : `<p class="ok">No protocol violation in ${check.frames} frames.</p>`
    }</section>`,
  );
  const channels = Object.entries(c.channels).map(([k, v]) => `${k} (${v})`).join(", ");
  const sub = `${start} · ${c.frames} frames · channels: ${channels || "none"}` +
    (c.fuse_minor !== undefined ? ` · FUSE 7.${c.fuse_minor}` : "");
  const chartJs = options.chartJs.replaceAll("</script", "<\\/script");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><div class="sub">${escapeHtml(sub)}${
    options.generator ? ` · ${escapeHtml(options.generator)}` : ""
  }</div></header>
<main>
${parts.join("\n")}
</main>
<script id="ringside-data" type="application/json">${scriptJson(data)}</script>
<script>${chartJs}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
