/**
 * The latency breakdown of one job: GitHub's `created_at`, received, queued, leased, boot start
 * and end (runner registered), assigned (`in_progress`), completed, each with its offset from the
 * first; and the spans between them. Works for direct jobs too (without the GitHub points).
 */
import { TERMINAL, type JobRecord } from "../jobs/record.ts";
import type { JobFacts } from "./facts.ts";

export interface LatencyPoint {
  name: "github_created" | "received" | "queued" | "leased" | "boot_start" | "runner_registered" | "assigned" | "completed";
  at: number;
  offsetMs: number;
}

export interface LatencyBreakdown {
  jobId: string;
  points: LatencyPoint[];
  spans: { queueMs?: number; startupMs?: number; runMs?: number; totalMs?: number };
}

export function latencyBreakdown(job: JobRecord, facts?: JobFacts | null): LatencyBreakdown {
  const t = job.times;
  const terminal = TERMINAL.has(job.state) ? job.updatedAt : undefined;
  const raw: [LatencyPoint["name"], number | undefined][] = [
    ["github_created", job.github?.createdAt ?? facts?.queuedAt],
    ["received", job.github?.receivedAt ?? job.createdAt],
    ["queued", t.queued],
    ["leased", t.leased],
    ["boot_start", t.booting],
    ["runner_registered", t.runner_registered],
    ["assigned", t.running ?? facts?.inProgressAt],
    ["completed", facts?.completedAt ?? terminal],
  ];
  const present = raw.filter((p): p is [LatencyPoint["name"], number] => typeof p[1] === "number");
  const first = Math.min(...present.map((p) => p[1]));
  const points = present.map(([name, at]) => ({ name, at, offsetMs: at - first }));
  const at = (n: LatencyPoint["name"]) => points.find((p) => p.name === n)?.at;
  const span = (a?: number, b?: number) => (a !== undefined && b !== undefined ? Math.max(0, b - a) : undefined);
  return {
    jobId: job.id,
    points,
    spans: {
      queueMs: span(at("github_created") ?? at("received"), at("assigned") ?? at("leased")),
      // A GitHub job has started once its runner registered; a direct job once its command runs.
      startupMs: span(at("leased"), job.github ? at("runner_registered") : at("assigned")),
      runMs: span(at("assigned"), at("completed")),
      totalMs: span(points.length ? first : undefined, at("completed")),
    },
  };
}
