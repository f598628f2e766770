import { AppError } from "../../core/errors.ts";
import type { JobEvent } from "../../jobs/events.ts";
import { STATES, type JobRecord } from "../../jobs/record.ts";
import { jobTiming } from "../../jobs/timing.ts";
import { shellQuote } from "../../core/shell.ts";
import type { Command } from "../command.ts";
import { ago, duration, printListing } from "../output.ts";
import type { LatencyBreakdown } from "../../github/latency.ts";
import { parseTraceparent } from "../../core/trace/traceparent.ts";

/** At most `n` characters, an ellipsis marking the cut. */
const clip = (text: string, n: number) => ([...text].length > n ? [...text].slice(0, n - 1).join("") + "…" : text);

type PublicJob = Omit<JobRecord, "secrets"> & { secrets: string[] };

export const jobsList: Command = {
  name: "jobs list",
  summary: "list jobs, newest first",
  usage: "jobs list [--state STATE] [--org ORG] [--limit N] [--json]",
  details: `STATE is one of ${STATES.join(", ")}.\nTIME reads "waiting" until an agent takes the job, "running for" while it runs, "took" once it ends.
The list is your token's organisation's; an operator sees every org (an ORG column when the list spans several) and may pick one with --org.`,
  options: { state: { type: "string" }, org: { type: "string" }, limit: { type: "string" } },
  async run(ctx, v) {
    const api = await ctx.client();
    const q = new URLSearchParams();
    if (v.state) q.set("state", String(v.state));
    if (v.org) q.set("org", String(v.org));
    if (v.limit) q.set("limit", String(v.limit));
    const { jobs } = await api.get<{ jobs: PublicJob[] }>(`/api/jobs?${q}`);
    const now = Date.now();
    const severalOrgs = new Set(jobs.map((j) => j.org)).size > 1;
    return printListing(ctx, jobs, {
      empty: "no jobs",
      row: (j) => ({ id: j.id, org: j.org, state: j.state, exit: j.exitCode, attempt: j.attempt, pool: j.pool, agent: j.agentId, created: ago(j.createdAt, now), time: jobTiming(j, now), command: clip(j.name ?? shellQuote(j.command), 50) }),
      columns: ["id", ...(severalOrgs ? ["org"] : []), "state", "exit", "attempt", "pool", "agent", "created", "time", "command"],
    });
  },
};

type Latency = Pick<LatencyBreakdown, "points" | "spans">;

/** The latency breakdown as a waterfall: each point (GitHub's created_at … completed) and its offset. */
export function waterfall(latency: Latency): string {
  const total = Math.max(1, ...latency.points.map((p) => p.offsetMs));
  const width = 30;
  const rows = latency.points.map((p) => {
    const bar = "─".repeat(Math.min(width, Math.round((p.offsetMs / total) * width))) + "▏";
    return `  ${p.name.padEnd(17)} +${duration(p.offsetMs).padStart(7)}  ${bar}`;
  });
  const s = latency.spans;
  rows.push(`  queue ${duration(s.queueMs)} · startup ${duration(s.startupMs)} · run ${duration(s.runMs)} · total ${duration(s.totalMs)}`);
  return rows.join("\n");
}

/** Every transition, with who made it and why. */
export function transitions(events: JobEvent[], start: number): string {
  return events
    .map((e) => {
      const who = e.agentId ? ` on ${e.agentId}` : "";
      const why = e.reason ? ` — ${e.reason}` : "";
      return `  +${duration(e.at - start).padStart(7)}  ${(e.from ?? "new").padEnd(17)} → ${e.to.padEnd(17)} attempt ${e.attempt}${who}${why}`;
    })
    .join("\n");
}

export const jobsShow: Command = {
  name: "jobs show",
  summary: "show one job, its lifecycle and latency breakdown",
  usage: "jobs show JOB_ID [--json]",
  options: {},
  positionals: { min: 1, max: 1, name: "JOB_ID" },
  async run(ctx, _v, [id]) {
    const api = await ctx.client();
    const { job } = await api.get<{ job: PublicJob }>(`/api/jobs/${encodeURIComponent(id!)}`);
    const { events } = await api.get<{ events: JobEvent[] }>(`/api/jobs/${encodeURIComponent(id!)}/events`);
    const latency = await api.get<Latency>(`/api/jobs/${encodeURIComponent(id!)}/latency`);
    if (ctx.json) return ctx.out(JSON.stringify({ job, events, latency }, null, 2)), 0;
    const lines = [
      `job      ${job.id}${job.name ? ` (${job.name})` : ""}`,
      `org      ${job.org}`,
      `state    ${job.state}${job.exitCode !== undefined ? ` (exit ${job.exitCode})` : ""}${job.reason ? ` — ${job.reason}` : ""}`,
      `command  ${shellQuote(job.command)}`,
      `labels   ${job.labels.join(", ")}  →  pool ${job.pool}`,
      `attempt  ${job.attempt} of ${job.maxAttempts}${job.agentId ? `, agent ${job.agentId}` : ""}`,
      `timeout  ${job.timeoutSeconds}s`,
      `created  ${new Date(job.createdAt).toISOString()} · ${jobTiming(job)}`,
      ...(job.github ? [`github   ${job.github.owner}/${job.github.repo} job ${job.github.jobId} (run ${job.github.runId})${job.github.ranOn ? `, ran on ${job.github.ranOn.runnerName}` : ""}`] : []),
      ...(job.forge ? [`${job.forge.kind.padEnd(8)} ${job.forge.forgeId}: ${job.forge.repo} job ${job.forge.jobId} (run ${job.forge.runId}, via ${job.forge.via})`] : []),
      ...traceLine(job),
      "",
      "latency:",
      waterfall(latency),
      "",
      "transitions:",
      transitions(events, job.createdAt),
    ];
    ctx.out(lines.join("\n"));
    return 0;
  },
};

/** The job's trace id, to look it up in the tracing backend (docs/operations.md "Traces"). */
function traceLine(job: PublicJob): string[] {
  const c = parseTraceparent(job.trace?.traceparent);
  return c ? [`trace    ${c.traceId}${c.sampled ? "" : " (not sampled: not exported)"}`] : [];
}

export const jobsCancel: Command = {
  name: "jobs cancel",
  summary: "cancel a job (queued: at once; running: its agent stops it)",
  usage: "jobs cancel JOB_ID [--json]",
  options: {},
  positionals: { min: 1, max: 1, name: "JOB_ID" },
  async run(ctx, _v, [id]) {
    const api = await ctx.client();
    const r = await api.post<{ job: PublicJob; pending: boolean }>(`/api/jobs/${encodeURIComponent(id!)}/cancel`);
    if (ctx.json) return ctx.out(JSON.stringify(r, null, 2)), 0;
    if (r.pending) ctx.out(`cancel requested: ${r.job.id} is ${r.job.state}; its agent will stop it`);
    else if (r.job.state === "cancelled") ctx.out(`cancelled ${r.job.id}`);
    else throw new AppError("conflict", `job ${r.job.id} already finished (${r.job.state})`);
    return 0;
  },
};
