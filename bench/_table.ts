/**
 * The Markdown tables the benchmark scripts print: the first column left-aligned,
 * the others right-aligned.
 *
 * @module
 */

/** `header` and `body` as a Markdown table, one line per row. */
export function markdownTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " +
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") +
    " |";
  return [
    line(header),
    "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|",
    ...body.map(line),
  ]
    .join("\n");
}
