/** Times and commands as people read them, as the CLI prints them, and a wall clock. */
export { ago, duration } from "../../src/core/durations.ts";
/** Commands shown as typed, and "waiting …" / "running for …" / "took …": the CLI's own pure modules. */
export { shellQuote } from "../../src/core/shell.ts";
export { jobTiming } from "../../src/jobs/timing.ts";

export function clock(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour12: false });
}

/** Bytes in binary units, as the CLI prints them (1.5 MiB). */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}
