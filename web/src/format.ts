/** Times and commands as people read them, as the CLI prints them, and a wall clock. */
export { ago, duration } from "../../src/core/durations.ts";
/** Commands shown as typed, and "waiting …" / "running for …" / "took …": the CLI's own pure modules. */
export { shellQuote } from "../../src/core/shell.ts";
export { jobTiming } from "../../src/jobs/timing.ts";

export function clock(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour12: false });
}
