/** Durations and ages as short text, for the CLI and the dashboard alike (no I/O). */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

export function ago(ts: number | undefined, now = Date.now()): string {
  return ts ? `${duration(now - ts)} ago` : "-";
}
