/**
 * Every stream and bucket Nimbus uses, created idempotently by whichever process starts first.
 * Names live here so no other file spells them.
 */
import { jetstream, jetstreamManager, RetentionPolicy, AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { API, isApiError } from "./errors.ts";

/** The KV bucket of job records, one key per job. */
export const JOBS_BUCKET = "nimbus_jobs";
export const QUEUE_STREAM = "NIMBUS_QUEUE";
export const QUEUE_SUBJECT_PREFIX = "nimbus.queue";
/** The token ledger: one key per token id (src/auth/ledger-store.ts). Expired entries are pruned by the control plane. */
export const TOKENS_BUCKET = "nimbus_tokens";
/** Per-organisation limit overrides (src/jobs/limits/store.ts). */
export const LIMITS_BUCKET = "nimbus_limits";
export const EVENTS_STREAM = "NIMBUS_EVENTS";
export const EVENTS_SUBJECT_PREFIX = "nimbus.events.job";

export const AUDIT_STREAM = "NIMBUS_AUDIT";
export const AUDIT_SUBJECT_PREFIX = "nimbus.audit";
/** Log service replicas tell each other which lines they stored (live searches on every replica see them). */
export const LOGS_STORED_SUBJECT = "nimbus.logs.stored";

export const queueSubject = (pool: string) => `${QUEUE_SUBJECT_PREFIX}.${pool}`;
export const eventSubject = (jobId: string) => `${EVENTS_SUBJECT_PREFIX}.${jobId}`;
export const poolConsumerName = (pool: string) => `pool_${pool.replace(/[^A-Za-z0-9_-]/g, "_")}`;

export interface Topology {
  js: JetStreamClient;
  jsm: JetStreamManager;
  jobs: KV;
  leases: KV;
  signals: KV;
  agents: KV;
  idempotency: KV;
  /** GitHub facts: `job.<id>` (what GitHub said about a workflow job), `runner.<name>`, `installation.<id>`. */
  github: KV;
  /** Webhook delivery ids seen (replay fence); kept 72 h, longer than GitHub's redelivery horizon. */
  ghDeliveries: KV;
  /** Per-organisation submission windows (direct and GitHub), shared by every control-plane replica. */
  submissionWindows: KV;
  /** Per-organisation limit overrides, one key per org id (src/jobs/limits/store.ts). */
  limits: KV;
  /** Per-organisation running-job slots: the jobs holding one (src/jobs/lifecycle/slots.ts). */
  slots: KV;
  /** Installation tokens minted (the ledger), shared so replicas do not each mint one. */
  ghTokens: KV;
  /** Singleton workers' leader keys (vanish when not renewed). */
  leaders: KV;
  /** The token ledger, watched by every service that verifies tokens. */
  tokens: KV;
}

export interface TopologyOptions {
  replicas?: number;
  /** Agents not heard from for this long vanish from the registry. */
  agentTtlMs?: number;
  eventsMaxAgeMs?: number;
  /** How long audit records are kept (default a year). */
  auditMaxAgeMs?: number;
}

const ms = (n: number) => n * 1_000_000; // JetStream durations are nanoseconds

async function ensureStream(jsm: JetStreamManager, name: string, config: Record<string, unknown>): Promise<void> {
  try {
    await jsm.streams.info(name);
    await jsm.streams.update(name, config as never);
  } catch (e) {
    if (!isApiError(e, API.streamNotFound)) throw e;
    try {
      await jsm.streams.add({ name, ...config } as never);
    } catch (e2) {
      // Another process created it between our info and add.
      if (!isApiError(e2, API.streamNameExists)) throw e2;
    }
  }
}

export async function ensureTopology(nc: NatsConnection, opts: TopologyOptions = {}): Promise<Topology> {
  const replicas = opts.replicas ?? 1;
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, QUEUE_STREAM, {
    subjects: [`${QUEUE_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Workqueue,
    num_replicas: replicas,
    duplicate_window: ms(120_000),
  });
  await ensureStream(jsm, EVENTS_STREAM, {
    subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Limits,
    num_replicas: replicas,
    max_age: ms(opts.eventsMaxAgeMs ?? 7 * 86_400_000),
    duplicate_window: ms(120_000),
  });
  await ensureStream(jsm, AUDIT_STREAM, {
    subjects: [`${AUDIT_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Limits,
    num_replicas: replicas,
    max_age: ms(opts.auditMaxAgeMs ?? 365 * 86_400_000),
  });
  const kvm = new Kvm(js);
  const [jobs, leases, signals, agents, idempotency, github, ghDeliveries, submissionWindows, ghTokens, leaders, limits, slots] = await Promise.all([
    kvm.create(JOBS_BUCKET, { replicas, history: 1 }),
    kvm.create("nimbus_leases", { replicas, history: 1 }),
    kvm.create("nimbus_signals", { replicas, history: 1, ttl: 7 * 86_400_000 }),
    kvm.create("nimbus_agents", { replicas, history: 1, ttl: opts.agentTtlMs ?? 30_000 }),
    kvm.create("nimbus_idempotency", { replicas, history: 1, ttl: 24 * 3_600_000 }),
    kvm.create("nimbus_github", { replicas, history: 1, ttl: 14 * 86_400_000 }),
    kvm.create("nimbus_gh_deliveries", { replicas, history: 1, ttl: 72 * 3_600_000 }),
    kvm.create("nimbus_submission_windows", { replicas, history: 1, ttl: 3_600_000 }),
    kvm.create("nimbus_gh_tokens", { replicas, history: 1, ttl: 3_600_000 }),
    kvm.create("nimbus_leaders", { replicas, history: 1, ttl: 15_000 }),
    ensureLimitsBucket(nc, { replicas }),
    kvm.create("nimbus_slots", { replicas, history: 1 }),
  ]);
  const tokens = await ensureTokenLedger(nc, { replicas });
  return { js, jsm, jobs, leases, signals, agents, idempotency, github, ghDeliveries, submissionWindows, ghTokens, leaders, limits, slots, tokens };
}

/**
 * The token ledger bucket alone, for the services that verify tokens but need nothing else of the
 * topology (log service, cache): whichever process starts first creates it. Entries are pruned by
 * their own expiry (a bucket TTL would cut long-lived tokens short).
 */
export async function ensureTokenLedger(nc: NatsConnection, opts: { replicas?: number } = {}): Promise<KV> {
  return new Kvm(jetstream(nc)).create(TOKENS_BUCKET, { replicas: opts.replicas ?? 1, history: 1 });
}

/** The org limit overrides' bucket alone, for the cache (which enforces the cache quota): created by whichever process starts first. */
export async function ensureLimitsBucket(nc: NatsConnection, opts: { replicas?: number } = {}): Promise<KV> {
  return new Kvm(jetstream(nc)).create(LIMITS_BUCKET, { replicas: opts.replicas ?? 1, history: 1 });
}

/** The shared cache index (src/cache/shared/entries.ts): one key per cache entry, every cache replica's. */
export const CACHE_ENTRIES_BUCKET = "nimbus_cache_entries";

/** The cache index's bucket, for the cache service: whichever replica starts first creates it. */
export async function ensureCacheEntriesBucket(nc: NatsConnection, opts: { replicas?: number } = {}): Promise<KV> {
  return new Kvm(jetstream(nc)).create(CACHE_ENTRIES_BUCKET, { replicas: opts.replicas ?? 1, history: 1 });
}

/** The streams `openTopology` waits for: the control plane creates them. */
const BOUND_STREAMS = [QUEUE_STREAM, EVENTS_STREAM, ...["nimbus_jobs", "nimbus_leases", "nimbus_signals", "nimbus_agents", "nimbus_github", "nimbus_limits", "nimbus_slots"].map((b) => `KV_${b}`)];

/**
 * The topology for a process that may not create or change streams (an agent, under its own NATS
 * user): wait until the control plane has created them (asking for their info only), then bind
 * to the buckets without touching their configuration. Buckets the process does not use are bound
 * too (binding makes no request); using one its user may not read fails with a permissions error.
 */
export async function openTopology(nc: NatsConnection, opts: { waitMs?: number; onWait?: (stream: string) => void } = {}): Promise<Topology> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + (opts.waitMs ?? 120_000);
  for (const name of BOUND_STREAMS) {
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        await jsm.streams.info(name);
        break;
      } catch (e) {
        if (!isApiError(e, API.streamNotFound) || Date.now() > deadline) throw e;
        opts.onWait?.(name);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
  const kvm = new Kvm(js);
  const open = (b: string) => kvm.open(b);
  const [jobs, leases, signals, agents, idempotency, github, ghDeliveries, submissionWindows, ghTokens, leaders, limits, slots, tokens] = await Promise.all(
    [JOBS_BUCKET, "nimbus_leases", "nimbus_signals", "nimbus_agents", "nimbus_idempotency", "nimbus_github", "nimbus_gh_deliveries", "nimbus_submission_windows", "nimbus_gh_tokens", "nimbus_leaders", "nimbus_limits", "nimbus_slots", TOKENS_BUCKET].map(open),
  );
  return { js, jsm, jobs: jobs!, leases: leases!, signals: signals!, agents: agents!, idempotency: idempotency!, github: github!, ghDeliveries: ghDeliveries!, submissionWindows: submissionWindows!, ghTokens: ghTokens!, leaders: leaders!, limits: limits!, slots: slots!, tokens: tokens! };
}

/** The durable pull consumer shared by every agent that serves `pool` (work-queue: each job to one). */
export async function ensurePoolConsumer(jsm: JetStreamManager, pool: string, ackWaitMs = 30_000): Promise<string> {
  const name = poolConsumerName(pool);
  const config = {
    durable_name: name,
    filter_subject: queueSubject(pool),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ms(ackWaitMs),
    max_ack_pending: -1,
  };
  try {
    await jsm.consumers.info(QUEUE_STREAM, name);
  } catch {
    try {
      await jsm.consumers.add(QUEUE_STREAM, config);
    } catch (e) {
      if (!(e instanceof Error) || !/already in use|exists/i.test(e.message)) throw e;
    }
  }
  return name;
}
