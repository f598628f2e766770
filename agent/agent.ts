/**
 * The host agent: registers, pulls the jobs its capacity matches, runs each through a driver as
 * a fenced step program, watches cancel signals, ships logs, drains on stop.
 */
import { hostname } from "node:os";
import { mkdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { createLogger, type Logger } from "../src/core/log.ts";
import { RenewingNatsCredentials } from "./nats-credentials.ts";
import { connectNats, natsAuthOf, publishNoAck } from "../src/nats/connect.ts";
import { ensurePoolConsumer, openTopology, QUEUE_STREAM, type Topology } from "../src/nats/topology.ts";
import { agentInboxPrefix } from "../src/nats/permissions.ts";
import { requestRequeue } from "../src/jobs/requeue.ts";
import type { JobRecord } from "../src/jobs/record.ts";
import { JobStore } from "../src/jobs/store.ts";
import { poolsFor, type Isolation } from "../src/jobs/labels.ts";
import { putAgent, removeAgent, type AgentInfo } from "../src/agents/registry.ts";
import { agentSignalKey, parseAgentSignal, type AgentSignal } from "../src/agents/signals.ts";
import { VERSION } from "../src/version.ts";
import type { AgentConfig, DriverName } from "../src/agents/settings.ts";
import type { Driver } from "./drivers/types.ts";
import { ISOLATION_OF, type AgentDrivers } from "./drivers/select.ts";
import { cacheEnv } from "../src/protocol/cache-env.ts";
import { JobRun } from "./job-run.ts";
import { watchedLimit } from "../src/jobs/limits/store.ts";
import { requestHandout } from "../src/jobs/handout.ts";
import { LogShipper } from "./logs/shipper.ts";
import { pullLoop, Slots } from "./pull.ts";
import { AgentStore } from "./store.ts";
import { ImageStore } from "./images/store.ts";
import { reconcile } from "./reconcile.ts";
import type { GithubAgentConfig } from "../src/github/config.ts";
import { startAgentResultsGateway, type AgentResultsGateway } from "./github/results-gateway.ts";
import { startTracing } from "../src/core/trace/tracer.ts";
import { jobTraceHooks } from "../src/jobs/trace/hooks.ts";
import { traceparentOf } from "../src/nats/trace-headers.ts";

export interface RunningAgent {
  id: string;
  stop(): Promise<void>;
  running(): string[];
}

function agentIdFrom(config: AgentConfig, local: AgentStore): string {
  if (config.agentId) return config.agentId;
  const kept = local.meta("agent_id");
  if (kept) return kept;
  const id = `${hostname().toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40)}-${randomBytes(3).toString("hex")}`;
  local.setMeta("agent_id", id);
  return id;
}

export async function startAgent(config: AgentConfig, githubConfig: GithubAgentConfig, makeDrivers: (agentId: string) => AgentDrivers): Promise<RunningAgent> {
  const local = new AgentStore(config.stateDir);
  const id = agentIdFrom(config, local);
  const log = createLogger("agent", { agentId: id });
  const { byIsolation: drivers, network } = makeDrivers(id);
  for (const driver of drivers.values()) {
    const probe = await driver.probe();
    if (!probe.ok) throw new Error(`driver ${driver.name} cannot run here: ${probe.detail}`);
    log.info("driver ready", { driver: driver.name, detail: probe.detail });
  }
  // Decentralized auth: the NATS user is a short-lived JWT from the control plane, renewed while we run.
  const renewing = config.controlUrl && !config.natsUser && !config.natsJwt ? await RenewingNatsCredentials.start(config.controlUrl, config.token, log) : undefined;
  const nc = await connectNats({ url: config.natsUrl, ...(renewing ? { credentials: () => renewing.current() } : natsAuthOf(config)), name: `nimbus-agent-${id}`, inboxPrefix: agentInboxPrefix(id) });
  // The control plane creates the streams and buckets; an agent's NATS user may not.
  const topology = await openTopology(nc, { onWait: (stream) => log.info("waiting for the control plane to create a stream", { stream }) });
  // A re-queue (retry, restart reconcile) goes through the control plane: an agent may not publish into the queue.
  const enqueueVia = (job: JobRecord) => requestRequeue(nc, job).catch((e) => log.warn("requeue not confirmed; the sweeper republishes a queued job", { jobId: job.id, error: e }));
  const tracing = startTracing(config, "agent", { warn: (m, f) => log.warn(m, f) });
  const jobs = new JobStore(topology.jobs, topology.js, (m, f) => log.warn(m, f), publishNoAck(nc), undefined, enqueueVia, jobTraceHooks(tracing));
  const shipper = new LogShipper({ store: local, logsUrl: config.logsUrl, token: config.token, log });
  shipper.start();
  const workRoot = `${config.stateDir}/jobs`;
  mkdirSync(workRoot, { recursive: true });
  const running = await watchedLimit(topology.limits, "running", config.orgMaxRunning);
  // What the active VM image carries (read once: activating another image needs an agent restart).
  const images = new ImageStore(config.imagesDir);
  const deps = { agentId: id, jobs, leases: topology.leases, signals: topology.signals, local, shipper, leaseTtlMs: config.leaseTtlMs, workRoot, log,
    orgSlots: { kv: topology.slots, limitOf: running.of, retryMs: 1000 },
    github: { nc, github: topology.github, config: githubConfig, bakedRunner: images.activeHasRunner() },
    forge: { nc, runnerDir: config.forgeRunnerDir },
    tracing,
    handout: (r: { jobId: string; attempt: number; leaseRevision: number }, traceparent?: string) => requestHandout(nc, { ...r, agentId: id, agentToken: config.token }, undefined, undefined, traceparent) };

  await reconcile({ agentId: id, workRoot, local, drivers: [...drivers.values()], jobs, leases: topology.leases, log });

  const poolDriver = new Map<string, Driver>();
  // docker pools: only a VM driver whose active image carries Docker (the ci image).
  const docker = drivers.has("vm") && images.activeServesDocker();
  for (const [isolation, driver] of drivers)
    for (const pool of poolsFor({ arch: "x64", isolations: [isolation], vcpus: config.vcpus, memoryGb: config.memoryGb, gpus: 0, docker }))
      poolDriver.set(pool, driver);
  const pools = [...poolDriver.keys()];
  const runs = new RunMap<JobRun>();
  const slots = new Slots(config.slots);
  let stopping = false;
  // An operator's drain (`nimbus agents drain`): no new work, running jobs finish; removal also ends the heartbeat.
  let draining = false;
  let removed = false;
  const startedAt = Date.now();

  const info = (): AgentInfo => ({
    id, hostname: hostname(), labels: config.labels, pools, drivers: [...drivers.values()].map((d) => d.name), slots: config.slots,
    running: runs.jobIds(), draining: stopping || draining, startedAt, heartbeatAt: Date.now(), version: VERSION,
  });
  await putAgent(topology.agents, info());
  const heartbeat = () => (removed ? Promise.resolve() : putAgent(topology.agents, info()).catch((e) => log.warn("agent heartbeat failed", { error: e })));
  const registry = setInterval(heartbeat, 5000);
  const onSignal = (sig: AgentSignal) => {
    if (removed) return;
    draining = true;
    log.info(sig.kind === "removed" ? "removed by an operator: no new work, no heartbeat" : "drain requested: no new work", { by: sig.by, running: runs.size });
    if (sig.kind === "removed") {
      removed = true;
      clearInterval(registry);
      void removeAgent(topology.agents, id).catch(() => {});
    } else void heartbeat();
  };
  const stopSignals = await watchCancels(topology, runs, log, id, onSignal);

  // Jobs reach the cache at its port on their gateway: only microVMs with a network have one.
  const cachePort = config.cacheUrl ? new URL(config.cacheUrl).port || "80" : undefined;
  const jobCacheUrl = (driver: Driver) => (network && cachePort && ISOLATION_OF[driver.name as DriverName] === "vm" ? `http://${network.gateway}:${cachePort}` : undefined);
  // Jobs with a network (microVMs, GitHub runners' sandboxes in their own namespace) reach the registry on their gateway.
  const registryPort = config.registryUrl ? new URL(config.registryUrl).port || "80" : undefined;
  const registryHost = network && registryPort ? `${network.gateway}:${registryPort}` : undefined;
  // GitHub jobs' VMs reach the cache through the results-host gateway (when the agent has all it needs).
  const results = await resultsGatewayFor(config, drivers, network, log);
  const resultsFor = (driver: Driver) => (ISOLATION_OF[driver.name as DriverName] === "vm" ? results : undefined);
  const networkByDefault = (driver: Driver) => !!network && ISOLATION_OF[driver.name as DriverName] === "vm";
  const handle = async (m: import("@nats-io/jetstream").JsMsg, driver: Driver) => {
    const { jobId, attempt } = m.json<{ jobId: string; attempt: number }>();
    const url = jobCacheUrl(driver);
    const cacheEnvFor = url ? (token: string) => cacheEnv({ url, token, protocol: "v2" }) : undefined;
    const run = new JobRun({ ...deps, driver, cacheEnvFor, registryHost, networkByDefault: networkByDefault(driver), resultsGateway: resultsFor(driver) }, jobId, attempt, m, traceparentOf(m.headers));
    runs.add(run);
    try {
      await run.execute();
    } catch (e) {
      run.log.error("job run failed", { error: e });
    } finally {
      runs.remove(run);
      if (draining) void heartbeat(); // the CLI's drain --wait sees it empty without waiting a beat
    }
  };
  const loops: Promise<void>[] = [];
  for (const pool of pools) {
    const consumer = await topology.js.consumers.get(QUEUE_STREAM, await ensurePoolConsumer(topology.jsm, pool));
    const driver = poolDriver.get(pool)!;
    loops.push(...pullLoop(consumer, slots, () => stopping || draining, (m) => handle(m, driver), (e) => log.warn("pull failed", { pool, error: e })));
  }
  log.info("agent started", { pools, drivers: config.drivers, slots: config.slots });

  return {
    id,
    running: () => runs.jobIds(),
    /** Drain: take no new jobs, let running ones finish (or time out), then leave. */
    async stop() {
      stopping = true;
      log.info("draining", { running: runs.size });
      await heartbeat();
      await slots.idle();
      await Promise.all(loops);
      for (const driver of drivers.values()) await driver.close?.().catch((e) => log.warn("driver close failed", { driver: driver.name, error: e }));
      await results?.stop().catch((e) => log.warn("results gateway stop failed", { error: e }));
      // The bridge and nftables table it created (never ones that were there before) go with it.
      await network?.close().catch((e) => log.warn("vm network cleanup failed", { error: e }));
      clearInterval(registry);
      stopSignals();
      running.stop();
      await shipper.stop();
      await removeAgent(topology.agents, id).catch(() => {});
      await nc.drain();
      renewing?.stop();
      await tracing.shutdown();
      local.close();
    },
  };
}

/**
 * The results-host gateway of this agent, when it has a microVM driver, a VM network of its own
 * namespace and a cache URL (docs/cache.md). One that cannot start is reported and left out: GitHub
 * jobs then run as before, their cache calls going to GitHub.
 */
async function resultsGatewayFor(config: AgentConfig, drivers: Map<Isolation, Driver>, network: AgentDrivers["network"], log: Logger): Promise<AgentResultsGateway | undefined> {
  if (!config.resultsGateway || !network || !config.cacheUrl || !drivers.has("vm")) return undefined;
  if (config.vmNetns) {
    log.warn("results gateway not started: the VM network lives in another network namespace (NIMBUS_VM_NETNS)");
    return undefined;
  }
  try {
    return await startAgentResultsGateway({
      dir: `${config.stateDir}/results-gateway`, gatewayIp: network.gateway, port: config.resultsGatewayPort, cacheUrl: config.cacheUrl,
      upstreamUrl: config.resultsUpstreamUrl, network, log: log.child({ component: "results-gateway" }),
    });
  } catch (e) {
    log.warn("results gateway not started: GitHub jobs' cache calls go to GitHub", { error: e });
    return undefined;
  }
}

/**
 * The runs on this agent, keyed by job and attempt: a GitHub job's next attempt can start here
 * while the runner of its previous attempt still serves another job (agent/github/steps.ts `detached`).
 */
export class RunMap<R extends { jobId: string; attempt: number }> {
  private readonly runs = new Map<string, R>();
  add(r: R): void {
    this.runs.set(`${r.jobId}#${r.attempt}`, r);
  }
  /** Only this run: a later attempt of the same job stays. */
  remove(r: R): void {
    if (this.runs.get(`${r.jobId}#${r.attempt}`) === r) this.runs.delete(`${r.jobId}#${r.attempt}`);
  }
  ofJob(jobId: string): R[] {
    return [...this.runs.values()].filter((r) => r.jobId === jobId);
  }
  jobIds(): string[] {
    return [...new Set([...this.runs.values()].map((r) => r.jobId))];
  }
  get size(): number {
    return this.runs.size;
  }
}

/** Cancel signals: end the matching local run; its step program writes `cancelled`. This agent's own signal (drain, removed) goes to `onAgent`. */
async function watchCancels(topology: Topology, runs: RunMap<JobRun>, log: Logger, agentId: string, onAgent: (s: AgentSignal) => void): Promise<() => void> {
  const watch = await topology.signals.watch();
  const own = agentSignalKey(agentId);
  (async () => {
    for await (const e of watch) {
      if (e.operation !== "PUT" || !e.value.length) continue;
      if (e.key === own) {
        const sig = parseAgentSignal(e.value);
        if (sig) onAgent(sig);
        continue;
      }
      for (const run of runs.ofJob(e.key)) {
        log.info("cancel requested", { jobId: e.key, attempt: run.attempt });
        run.end({ kind: "cancel" });
      }
    }
  })();
  return () => watch.stop();
}

export type { NatsConnection };
