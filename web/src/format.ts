/** Times as people read them: durations and ages as the CLI prints them, and a wall clock. */
export { ago, duration } from "../../src/core/durations.ts";

export function clock(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour12: false });
}
