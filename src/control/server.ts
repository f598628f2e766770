/** Start the control plane: NATS topology, read model, sweeper, HTTP. */
import { listAgents } from "../agents/registry.ts";
import type { ConfigOf } from "../core/config/settings.ts";
import { createLogger } from "../core/log.ts";
import { connectNats, natsAuthOf, publishNoAck } from "../nats/connect.ts";
import { maxPayloadOf } from "../nats/limits.ts";
import { ensureTopology, queueSubject, QUEUE_STREAM } from "../nats/topology.ts";
import { JobStore } from "../jobs/store.ts";
import { JobIndex } from "../jobs/job-index.ts";
import { startSweeper } from "../jobs/sweeper.ts";
import { leaseMirror } from "../jobs/lifecycle/lease.ts";
import { cancelRequested } from "../jobs/cancel.ts";
import { authenticate } from "../http/common.ts";
import { controlApp } from "./app.ts";
import { API_ROLES } from "./access.ts";
import { mintRuntimeToken, scopesForRun } from "../protocol/cache-token.ts";
import { startGithubWorkers } from "../github/runtime.ts";
import { startForgeWorkers } from "../gitea/service.ts";
import { startForgeService } from "../gitea/agent-service.ts";
import { forgeIntake } from "./routes-forges.ts";
import { githubLogSink } from "./github-log-sink.ts";
import { controlMetrics } from "./metrics.ts";
import { sealJobSecrets, secretsKey } from "../auth/seal.ts";
import { startHandoutService } from "./handout.ts";
import { LedgerView, TokenLedger } from "../auth/ledger-store.ts";
import { startLedgerPruner } from "./ledger-prune.ts";
import { startRequeueService } from "./requeue.ts";
import { LimitsStore } from "../jobs/limits/store.ts";
import { defaultLimits } from "../jobs/limits/values.ts";
import { admission, SubmissionWindows } from "../jobs/limits/window.ts";
import { pruneSlots } from "../jobs/lifecycle/slots.ts";
import { readLease } from "../jobs/lifecycle/lease.ts";
import type { ControlContext } from "./context.ts";
import { startTracing } from "../core/trace/tracer.ts";
import { jobTraceHooks, lostAttemptTracer } from "../jobs/trace/hooks.ts";
import type { controlSettings } from "./config.ts";

export interface RunningControlPlane {
  url: string;
  ctx: ControlContext;
  stop(): Promise<void>;
}

export async function startControlPlane(config: ConfigOf<typeof controlSettings>): Promise<RunningControlPlane> {
  const log = createLogger("control");
  const nc = await connectNats({ url: config.natsUrl, ...natsAuthOf(config), name: "nimbus-control" });
  const topology = await ensureTopology(nc, { replicas: config.natsReplicas });
  const tracing = startTracing(config, "control", { warn: (m, f) => log.warn(m, f) });
  const store = new JobStore(topology.jobs, topology.js, (m, f) => log.warn(m, f), publishNoAck(nc), () => maxPayloadOf(nc), undefined, jobTraceHooks(tracing));
  const metrics = controlMetrics({ index: () => index, agents: () => listAgents(topology.agents) });
  const index = await JobIndex.start(topology.jobs, (next, prev) => metrics.observeChange(next, prev));
  const ledgerView = await LedgerView.start(topology.tokens);
  const auth = { secret: config.authSecret, ledger: ledgerView };
  const sealKey = secretsKey(config.secretsKey);
  const limits = await LimitsStore.open(topology.limits, defaultLimits(config));
  const ctx: ControlContext = {
    config,
    nc,
    topology,
    store,
    index,
    log,
    metrics,
    submitDeps: {
      store,
      labels: { baseLabel: config.baseLabel, defaultIsolation: config.defaultIsolation },
      maxAttempts: config.maxAttempts,
      cache: true,
      seal: (jobId, payload) => sealJobSecrets(sealKey, jobId, payload),
      servedPools: async () => (await listAgents(topology.agents)).filter((a) => !a.draining).map((a) => a.pools),
    },
    principal: (request) => authenticate(request, auth, API_ROLES),
    auth,
    tokens: { secret: config.authSecret, ledger: new TokenLedger(topology.tokens) },
    limits,
    admission: admission(new SubmissionWindows(topology.submissionWindows), (org) => limits.for(org)),
  };
  const leaseView = await leaseMirror(topology.leases);
  const sweeper = startSweeper(
    {
      store,
      leases: topology.leases,
      leaseView,
      jobs: () => index.all(),
      republishAfterMs: Math.max(10_000, config.leaseTtlMs),
      orphanAfterMs: config.leaseTtlMs,
      log,
      cancelRequested: (id) => cancelRequested(topology.signals, id),
      // In a work-queue stream a message stays until acked: the subject's count is what waits or is in flight.
      poolBacklog: async (pool) => {
        const info = await topology.jsm.streams.info(QUEUE_STREAM, { subjects_filter: queueSubject(pool) });
        return info.state.subjects?.[queueSubject(pool)] ?? 0;
      },
      // A running-job slot whose job holds no lease for that attempt (its agent died) goes back to its org.
      pruneSlots: () =>
        pruneSlots(topology.slots, async (jobId, attempt) => (await readLease(topology.leases, jobId))?.value.attempt === attempt, config.leaseTtlMs),
      onAttemptLost: lostAttemptTracer(tracing),
    },
    config.sweepIntervalMs,
  );
  const handout = startHandoutService({
    nc,
    store,
    leases: topology.leases,
    secretsKey: sealKey,
    authSecret: config.authSecret,
    mintCacheToken: ({ org, repo, ref, ttlSeconds, jobId }) => mintRuntimeToken(config.authSecret, { org, repo, scopes: scopesForRun({ ref }), ttlSeconds, subject: jobId }),
    ledger: ledgerView,
    cachedRecord: (id) => index.get(id),
    tracing,
    log,
  });
  const pruner = startLedgerPruner(ctx.tokens.ledger, log);
  const requeue = startRequeueService({ nc, store, log });
  const app = controlApp(ctx).listen({ hostname: config.host, port: config.port });
  ctx.jobLogSink = githubLogSink({ logsUrl: config.logsUrl, tokens: ctx.tokens });
  const github = await startGithubWorkers(ctx); // agents' runner service + the reconciler (off without a webhook secret)
  const forgeDeps = forgeIntake(ctx);
  const forges = startForgeWorkers(config.forges, { ...forgeDeps.deps, metrics: forgeDeps.metrics, intervalMs: config.forgePollIntervalMs, leaders: topology.leaders });
  ctx.forges = forges;
  const forgeService = startForgeService({ nc, store, leases: topology.leases, forges: config.forges, log });
  const url = `http://${config.host}:${app.server!.port}`;
  log.info("control plane listening", { url });
  return {
    url,
    ctx,
    async stop() {
      await app.stop(true);
      await github.stop();
      await forges.stop();
      forgeService.stop();
      handout.stop();
      pruner.stop();
      requeue.stop();
      await sweeper.stop();
      index.stop();
      leaseView.stop();
      ledgerView.stop();
      limits.stop();
      await nc.drain();
      await tracing.shutdown();
    },
  };
}
