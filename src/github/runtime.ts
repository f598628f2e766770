/**
 * The GitHub integration inside one control-plane replica, built once from its context: webhook
 * verifier and intake deps for the route; the agents' service, the facts read model and the
 * reconciler started by `startGithubWorkers`.
 */
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Registry } from "prom-client";
import type { Logger } from "../core/log.ts";
import type { JobIndex } from "../jobs/job-index.ts";
import type { LabelOptions } from "../jobs/labels.ts";
import type { JobStore } from "../jobs/store.ts";
import type { SubmitDeps } from "../jobs/submit.ts";
import type { Topology } from "../nats/topology.ts";
import type { Admission } from "../jobs/limits/window.ts";
import { GithubClient } from "./client.ts";
import { checkGithubConfig, githubEnabled, privateKeyPem, type GithubConfig } from "./config.ts";
import { FactsIndex } from "./facts-index.ts";
import type { IntakeDeps } from "./intake.ts";
import { API_STATUSES, bounded, githubMetrics, type GithubMetrics } from "./metrics.ts";
import { lookupJob, Reconciler } from "./reconciler.ts";
import { startGithubService } from "./service.ts";
import { WebhookVerifier } from "./webhook.ts";
import { JobLogSync, RETRY_MS, type JobLogSink } from "./job-log-sync.ts";

export interface GithubRuntime {
  enabled: boolean;
  config: GithubConfig;
  labels: LabelOptions;
  metrics: GithubMetrics;
  verifier: WebhookVerifier | null;
  intake: IntakeDeps;
  client: GithubClient | null;
  facts: FactsIndex | null;
  reconciler: Reconciler | null;
}

/** What the integration needs from the process that hosts it (the control plane passes its context). */
export interface GithubHost {
  config: GithubConfig;
  nc: NatsConnection;
  topology: Topology;
  store: JobStore;
  index: JobIndex;
  submitDeps: SubmitDeps;
  /** The per-organisation submission windows, shared with direct submissions. */
  admission: Admission;
  metrics: { registry: Registry };
  log: Logger;
  /** Where ended GitHub jobs' own logs are stored (the log service); absent: they are not fetched. */
  jobLogSink?: JobLogSink;
}

const runtimes = new WeakMap<GithubHost, GithubRuntime>();

export function githubRuntime(ctx: GithubHost): GithubRuntime {
  const existing = runtimes.get(ctx);
  if (existing) return existing;
  const config = ctx.config;
  checkGithubConfig(config);
  const enabled = githubEnabled(config);
  const metrics = githubMetrics(ctx.metrics.registry);
  const labels = ctx.submitDeps.labels;
  const log = ctx.log.child({ part: "github" });
  const client = enabled
    ? new GithubClient({
        apiUrl: config.githubApiUrl,
        appId: config.githubAppId,
        privateKeyPem: privateKeyPem(config),
        tokenLedger: ctx.topology.ghTokens,
        retryBaseMs: config.githubRetryBaseMs,
        log,
        onStatus: (s) => metrics.api.inc({ status: bounded(s, API_STATUSES) }),
      })
    : null;
  const rt: GithubRuntime = {
    enabled,
    config,
    labels,
    metrics,
    verifier: enabled ? new WebhookVerifier(config.githubWebhookSecret) : null,
    intake: {
      store: ctx.store,
      github: ctx.topology.github,
      deliveries: ctx.topology.ghDeliveries,
      limiter: ctx.admission,
      labels,
      config,
      metrics,
      log,
      servedPools: ctx.submitDeps.servedPools,
    },
    client,
    facts: null,
    reconciler: null,
  };
  runtimes.set(ctx, rt);
  return rt;
}

/** Start the agents' GitHub service and the reconciler (singleton across replicas by a leader key). */
export async function startGithubWorkers(ctx: GithubHost): Promise<{ stop(): Promise<void> }> {
  const rt = githubRuntime(ctx);
  if (!rt.enabled || !rt.client) return { stop: async () => {} };
  const deps = { ...rt.intake, client: rt.client };
  const facts = await FactsIndex.start(ctx.topology.github);
  rt.facts = facts;
  const service = startGithubService({ ...deps, nc: ctx.nc, leases: ctx.topology.leases, lookup: (jobId) => lookupJob(deps, jobId) });
  const reconciler = new Reconciler({
    ...deps,
    index: ctx.index,
    facts,
    leases: ctx.topology.leases,
    leaders: ctx.topology.leaders,
    jsm: ctx.topology.jsm,
    replicaId: `control-${randomBytes(4).toString("hex")}`,
    jobLogs: ctx.jobLogSink ? new JobLogSync({ client: rt.client, jobs: () => ctx.index.all(), sink: ctx.jobLogSink, log: ctx.log, retryMs: RETRY_MS.map((ms) => (ms * ctx.config.githubRetryBaseMs) / 1000) }) : undefined,
  });
  rt.reconciler = reconciler;
  reconciler.start();
  return {
    async stop() {
      service.stop();
      await reconciler.stop();
      facts.stop();
    },
  };
}
