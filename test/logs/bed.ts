/**
 * The log tests' bed: a real nats-server with Nimbus's topology, the control plane's handout (for
 * log credentials) and a real log service on SQLite; `leasedJob` gives a job leased by an agent and
 * the log credential the handout gave that agent for it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer } from "../support/nats.ts";
import { freePort } from "../support/net.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, type Topology } from "../../src/nats/topology.ts";
import { JobStore } from "../../src/jobs/store.ts";
import { Lease } from "../../src/jobs/lifecycle/lease.ts";
import { tryTransition } from "../../src/jobs/lifecycle/transition.ts";
import { submitJob } from "../../src/jobs/submit.ts";
import { parseJobSpec } from "../../src/jobs/spec.ts";
import { requestHandout } from "../../src/jobs/handout.ts";
import { startHandoutService } from "../../src/control/handout.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { logSettings } from "../../src/logs/config.ts";
import { startLogService } from "../../src/logs/server.ts";
import { createLogger } from "../../src/core/log.ts";
import type { JobRecord, Versioned } from "../../src/jobs/record.ts";
import type { ClickHouseClient } from "@clickhouse/client";

export interface LogsBed {
  nats: NatsServer;
  nc: NatsConnection;
  t: Topology;
  store: JobStore;
  logs: { url: string; stop(): Promise<void> };
  /** Every log service replica (the first is `logs`); more than one only on a shared (ClickHouse) store. */
  replicas: { url: string; stop(): Promise<void> }[];
  /** A temp dir of the bed's, removed by `stop`. */
  dir: string;
  /** A job of `org` leased by `agentId` (attempt 1), its lease, and the log credential the handout gave that agent. */
  leasedJob(agentId: string, agentToken: string, org?: string): Promise<{ job: Versioned<JobRecord>; lease: Lease; credential: string }>;
  stop(): Promise<void>;
}

export async function startLogsBed(authSecret: string, name: string, opts: { clickhouse?: (dir: string) => ClickHouseClient; replicas?: number } = {}): Promise<LogsBed> {
  const nats = await startNats();
  const nc = await connectNats({ url: nats.url, name: "test" });
  const t = await ensureTopology(nc);
  const store = new JobStore(t.jobs, t.js);
  const handout = startHandoutService({ nc, store, leases: t.leases, secretsKey: new Uint8Array(randomBytes(32)), authSecret, log: createLogger("test") });
  const dir = mkdtempSync(join(tmpdir(), `nimbus-${name}-`));
  const start = async () =>
    startLogService(
      loadConfig(logSettings, {
        NIMBUS_NATS_URL: nats.url, NIMBUS_AUTH_SECRET: authSecret, NIMBUS_LOGS_PORT: String(await freePort()), NIMBUS_LOGS_DB: join(dir, "logs.sqlite"),
        ...(opts.clickhouse ? { NIMBUS_LOGS_BACKEND: "clickhouse", NIMBUS_LOGS_CLICKHOUSE_URL: "http://127.0.0.1:9", NIMBUS_LOGS_CLICKHOUSE_DATABASE: "nimbus_bed" } : {}),
      }),
      opts.clickhouse ? { clickhouse: () => opts.clickhouse!(join(dir, "chdb")) } : {},
    );
  const logs = await start();
  const replicas = [logs];
  for (let i = 1; i < (opts.replicas ?? 1); i++) replicas.push(await start());
  return {
    nats, nc, t, store, logs, replicas, dir,
    async leasedJob(agentId, agentToken, org = "default") {
      const { job } = await submitJob({ store, labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" }, maxAttempts: 2 }, parseJobSpec({ command: ["true"] }), { sub: "someone", org });
      const lease = (await Lease.acquire(t.leases, { jobId: job.value.id, agentId, attempt: 1, ttlMs: 60_000 }))!;
      const leased = await tryTransition(store, job, "leased", { agentId });
      if (leased === "stale") throw new Error("stale");
      const h = await requestHandout(nc, { jobId: job.value.id, attempt: 1, agentId, leaseRevision: lease.revision, agentToken });
      return { job: leased, lease, credential: h.logCredential! };
    },
    async stop() {
      for (const r of replicas) await r.stop();
      handout.stop();
      await nc.close();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
