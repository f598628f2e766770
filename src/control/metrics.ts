/**
 * The control plane's Prometheus metrics: jobs by state and by pool, the job lifecycle's durations
 * under the names an Actions Runner Controller user knows (`…job_queue_duration_seconds`,
 * `…job_startup_duration_seconds`, `…job_execution_duration_seconds`), and the fleet's runner slots
 * (busy and idle) from the agent registry. Every replica watches every job record, so each one
 * reports the whole fleet: with several replicas, query one instance (or `max` over them), never
 * the sum. Labels are bounded: pools and sources come from configuration, and past `MAX_POOLS`
 * distinct pools the rest are `pool="other"`; no metric carries an organisation.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AgentInfo } from "../agents/registry.ts";
import type { JobIndex } from "../jobs/job-index.ts";
import { completedSteps } from "../jobs/lifecycle-metrics.ts";
import { STATES, type JobRecord } from "../jobs/record.ts";

export interface ControlMetrics {
  registry: Registry;
  jobsSubmitted: Counter;
  /** Observe a job record's change (the job index calls it for every change it sees). */
  observeChange(next: JobRecord | null, prev: JobRecord | undefined): void;
}

const MAX_POOLS = 64;
const SOURCES = ["direct", "github", "gitea", "forgejo"];
/** Seconds: a sandbox job's queue wait is milliseconds, a cold VM's start seconds, a build's run an hour. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];

export interface MetricsSources {
  index: () => JobIndex | undefined;
  /** The live agents (the registry bucket); absent: no runner gauges. */
  agents?: () => Promise<AgentInfo[]>;
}

export function controlMetrics({ index, agents }: MetricsSources): ControlMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: "nimbus_control_" });
  const pools = new Set<string>();
  const poolLabel = (p: string) => {
    if (!pools.has(p) && pools.size < MAX_POOLS) pools.add(p);
    return pools.has(p) ? p : "other";
  };
  const sourceLabel = (s: string) => (SOURCES.includes(s) ? s : "other");

  const jobsSubmitted = new Counter({ name: "nimbus_jobs_submitted_total", help: "Jobs created by direct submission.", registers });
  new Gauge({
    name: "nimbus_jobs",
    help: "Jobs known to the control plane, by state.",
    labelNames: ["state"],
    registers,
    collect() {
      const counts = index()?.countByState() ?? {};
      for (const s of STATES) this.set({ state: s }, counts[s] ?? 0);
    },
  });
  new Gauge({
    name: "nimbus_jobs_queued",
    help: "Jobs waiting in the queue, by pool (the labels' architecture, isolation and size).",
    labelNames: ["pool"],
    registers,
    collect() {
      this.reset();
      const byPool = new Map<string, number>();
      for (const j of index()?.all() ?? []) if (j.state === "queued") byPool.set(poolLabel(j.pool), (byPool.get(poolLabel(j.pool)) ?? 0) + 1);
      for (const [pool, n] of byPool) this.set({ pool }, n);
    },
  });
  const labelNames = ["pool", "source"] as const;
  const queue = new Histogram({ name: "nimbus_job_queue_duration_seconds", help: "From a job's queueing (or requeueing) to an agent's lease of it.", labelNames, buckets: BUCKETS, registers });
  const startup = new Histogram({
    name: "nimbus_job_startup_duration_seconds",
    help: "From the lease to the job running: a sandbox's or VM's start, a GitHub runner's registration and assignment.",
    labelNames, buckets: BUCKETS, registers,
  });
  const execution = new Histogram({
    name: "nimbus_job_execution_duration_seconds",
    help: "From running to the attempt's end, by outcome.",
    labelNames: [...labelNames, "outcome"], buckets: BUCKETS, registers,
  });
  const completed = new Counter({ name: "nimbus_jobs_completed_total", help: "Attempts that ended, by outcome (also those that never ran: cancelled or timed out in the queue).", labelNames: [...labelNames, "outcome"], registers });

  if (agents) {
    const live = async () => (await agents().catch(() => [])).filter((a) => !a.draining || a.running.length > 0);
    new Gauge({ name: "nimbus_agents", help: "Live agents (heartbeating), draining ones included.", labelNames: ["draining"], registers,
      async collect() {
        const all = await agents!().catch(() => []);
        this.set({ draining: "false" }, all.filter((a) => !a.draining).length);
        this.set({ draining: "true" }, all.filter((a) => a.draining).length);
      } });
    new Gauge({ name: "nimbus_runners", help: "Job slots of the live agents: busy (running a job) and idle (free; a draining agent's free slots are not idle).", labelNames: ["state"], registers,
      async collect() {
        let busy = 0;
        let idle = 0;
        for (const a of await live()) {
          busy += Math.min(a.running.length, a.slots);
          if (!a.draining) idle += Math.max(0, a.slots - a.running.length);
        }
        this.set({ state: "busy" }, busy);
        this.set({ state: "idle" }, idle);
      } });
  }

  return {
    registry,
    jobsSubmitted,
    observeChange(next, prev) {
      for (const o of completedSteps(next, prev)) {
        const l = { pool: poolLabel(o.pool), source: sourceLabel(o.source) };
        if (o.step === "queue") queue.observe(l, o.seconds);
        else if (o.step === "startup") startup.observe(l, o.seconds);
        else if (o.step === "execution") execution.observe({ ...l, outcome: o.outcome! }, o.seconds);
        else completed.inc({ ...l, outcome: o.outcome! });
      }
    },
  };
}
