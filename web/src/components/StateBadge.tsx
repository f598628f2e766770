import type { JobState } from "../api.ts";

const TONE: Record<string, string> = {
  succeeded: "ok", failed: "bad", timed_out: "bad", stuck: "bad", cancelled: "muted",
  queued: "wait", awaiting_github: "wait", leased: "busy", booting: "busy", runner_registered: "busy", running: "busy",
};

export function StateBadge({ state }: { state: JobState }) {
  return <span className={`badge ${TONE[state] ?? ""}`} data-state={state}>{state.replace(/_/g, " ")}</span>;
}
