/** Plain-text tables and durations for the CLI. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => (r[c] === undefined || r[c] === null ? "" : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join("\n");
}

/**
 * A listing: the items as JSON with `--json`, `empty` when there are none, else a table of
 * `row(item)` under `columns`. Returns the exit code (0).
 */
export function printListing<T>(ctx: { json: boolean; out(s: string): void }, items: T[], o: { empty: string; row: (item: T) => Record<string, unknown>; columns: string[] }): number {
  if (ctx.json) ctx.out(JSON.stringify(items, null, 2));
  else if (!items.length) ctx.out(o.empty);
  else ctx.out(table(items.map(o.row), o.columns));
  return 0;
}

export { ago, duration } from "../core/durations.ts";
