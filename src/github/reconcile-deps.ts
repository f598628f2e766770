/** What the GitHub reconciler's parts (leadership, the tick, the poll) are given. */
import type { KV } from "@nats-io/kv";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "../core/log.ts";
import type { JobIndex } from "../jobs/job-index.ts";
import type { LabelOptions } from "../jobs/labels.ts";
import type { JobStore } from "../jobs/store.ts";
import type { GithubClient } from "./client.ts";
import type { GithubConfig } from "./config.ts";
import type { FactsIndex } from "./facts-index.ts";
import type { GithubMetrics } from "./metrics.ts";
import type { Admission } from "../jobs/limits/window.ts";

export interface ReconcilerDeps {
  store: JobStore;
  index: JobIndex;
  facts: FactsIndex;
  github: KV;
  leases: KV;
  leaders: KV;
  jsm: JetStreamManager;
  client: GithubClient;
  config: GithubConfig;
  labels: LabelOptions;
  limiter: Admission;
  metrics: GithubMetrics;
  log: Logger;
  replicaId: string;
  /** Fetches and stores ended GitHub jobs' own logs (leader only, each tick); absent: not done. */
  jobLogs?: { sync(): Promise<number> };
}

/** What the reconciler did since it started (the control plane's GitHub status shows it). */
export interface ReconcilerTotals {
  verdicts: number;
  stuck: number;
  redriven: number;
  created: number;
  redelivered: number;
  runnersRemoved: number;
}
