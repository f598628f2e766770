/** Prometheus metrics of the GitHub integration, registered on the control plane's registry. */
import { Counter, Histogram, type Registry } from "prom-client";

export interface GithubMetrics {
  webhooks: Counter<"event" | "outcome">;
  rateLimited: Counter<"org">;
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
    rateLimited: new Counter({ name: "nimbus_github_rate_limited_total", help: "Job creations refused by the per-organisation limit.", labelNames: ["org"], registers }),
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
