/** Prometheus metrics of the GitHub integration, registered on the control plane's registry. */
import { Counter, Histogram, type Registry } from "prom-client";
import { ERROR_CODES } from "../core/errors.ts";

/**
 * Every label value is one of a known set (anything else is "other"): a label taken from a request
 * (the X-GitHub-Event header, a status GitHub sends) would otherwise let anyone grow the series.
 */
export const WEBHOOK_EVENTS = [
  "workflow_job", "workflow_run", "ping", "installation", "installation_repositories", "installation_target",
  "github_app_authorization", "meta", "check_run", "check_suite", "push", "pull_request", "repository",
] as const;
export const WEBHOOK_OUTCOMES = ["pong", "ignored", "created", "exists", "recorded", "ok", "duplicate", "error", ...ERROR_CODES] as const;
export const API_STATUSES = ["200", "201", "202", "204", "304", "400", "401", "403", "404", "409", "422", "429", "500", "502", "503", "504"] as const;

export function bounded(value: unknown, known: readonly string[]): string {
  const s = String(value);
  return known.includes(s) ? s : "other";
}

export interface GithubMetrics {
  webhooks: Counter<"event" | "outcome">;
  rateLimited: Counter;
  jobsCreated: Counter<"via">;
  api: Counter<"status">;
  redeliveries: Counter;
  stuck: Counter<"reason">;
  runnersRemoved: Counter<"why">;
  queueSeconds: Histogram;
  startupSeconds: Histogram;
}

const BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];

export function githubMetrics(registry: Registry): GithubMetrics {
  const registers = [registry];
  return {
    webhooks: new Counter({ name: "nimbus_github_webhooks_total", help: "Webhook deliveries by event and outcome.", labelNames: ["event", "outcome"], registers }),
    rateLimited: new Counter({ name: "nimbus_github_rate_limited_total", help: "Job creations refused by the per-organisation limit (no org label: orgs are unbounded; the log names them).", registers }),
    jobsCreated: new Counter({ name: "nimbus_github_jobs_created_total", help: "GitHub jobs created, by how we learnt of them.", labelNames: ["via"], registers }),
    api: new Counter({ name: "nimbus_github_api_requests_total", help: "GitHub REST calls by response status.", labelNames: ["status"], registers }),
    redeliveries: new Counter({ name: "nimbus_github_redeliveries_total", help: "Failed webhook deliveries we asked GitHub to redeliver.", registers }),
    stuck: new Counter({ name: "nimbus_github_stuck_total", help: "Jobs marked stuck, by the step that overran.", labelNames: ["reason"], registers }),
    runnersRemoved: new Counter({ name: "nimbus_github_runners_removed_total", help: "Runners removed from GitHub by Nimbus.", labelNames: ["why"], registers }),
    queueSeconds: new Histogram({
      name: "nimbus_github_job_queue_seconds",
      help: "From GitHub's created_at to the job's assignment to a runner (in_progress).",
      buckets: BUCKETS,
      registers,
    }),
    startupSeconds: new Histogram({
      name: "nimbus_github_runner_startup_seconds",
      help: "From an agent leasing a job to its runner being up and registered.",
      buckets: BUCKETS,
      registers,
    }),
  };
}
