/**
 * The control plane's secrets handout service (protocol: src/jobs/handout.ts). It answers only the
 * agent that holds the job's lease for this attempt at this lease revision; anyone else gets
 * `forbidden` with the refusal named, a bad agent token `unauthorized`.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection, Msg } from "@nats-io/transport-node";
import { CompactEncrypt, importJWK } from "jose";
import { AppError, errorMessage, type ErrorCode } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { verifyToken, type VerifiedToken } from "../auth/tokens.ts";
import { openJobSecrets, type SealedPayload } from "../auth/seal.ts";
import { isReplyKey, ReplySealer } from "../auth/reply-seal.ts";
import { logCredentialTtl, mintLogCredential } from "../auth/log-credential.ts";
import { mintRegistryCredential, registryCredentialTtl } from "../auth/registry-credential.ts";
import { readLease } from "../jobs/lifecycle/lease.ts";
import { ACTIVE, type JobRecord } from "../jobs/record.ts";
import { orgOf } from "../jobs/org.ts";
import { jobMetaOf } from "../jobs/job-meta.ts";
import type { JobStore } from "../jobs/store.ts";
import type { Tracing } from "../core/trace/tracer.ts";
import { parseTraceparent } from "../core/trace/traceparent.ts";
import { traceparentOf } from "../nats/trace-headers.ts";
import { HANDOUT_QUEUE, HANDOUT_SUBJECT, type Handout, type HandoutRefusal, type HandoutReply, type HandoutRequest } from "../jobs/handout.ts";

export interface HandoutDeps {
  nc: NatsConnection;
  store: JobStore;
  leases: KV;
  /** The key job secrets are sealed with (NIMBUS_SECRETS_KEY). */
  secretsKey: Uint8Array;
  /** Verifies agent tokens and signs log credentials (NIMBUS_AUTH_SECRET). */
  authSecret: string;
  /** Mints a job's Actions cache runtime token (jobs with a cache scope get one in their handout). */
  mintCacheToken?: (i: { org: string; repo: string; ref: string; ttlSeconds: number; jobId: string }) => Promise<string>;
  /** This replica's live copy of the job records (the job index): a record it holds that already names the
   * asker at this attempt spares the handout a read; one that does not (the watch lags) is read from NATS. */
  cachedRecord?: (jobId: string) => JobRecord | undefined;
  /** The token ledger's verdict (revoked, superseded, unknown agent tokens are refused). */
  ledger?: { check(t: VerifiedToken): void | Promise<void> };
  /** Exports the handout's span into the job's trace (the request's traceparent, when it names the job's own trace). */
  tracing?: Tracing;
  log: Logger;
}

const refuse = (refusal: HandoutRefusal, message: string) => new AppError("forbidden", message, { refusal });

/** Reads that lag the writes the asker has seen are taken again this many times, LAG_RETRY_MS apart. */
const LAG_RETRIES = 40;
const LAG_RETRY_MS = 25;

/**
 * The job record, once it and the lease show the asker holding this attempt at its revision.
 *
 * The lease is always read from NATS: it is the fence (holder, attempt, revision). The record comes from this
 * replica's copy when that copy already shows the asker running this attempt (its secrets, cache scope and
 * org never change after the job is created), else it is read with the lease in the same round trip. Both
 * are checked before anything is minted or opened.
 *
 * On a replicated bucket a read may be answered by a replica that has not yet applied the latest write
 * (direct gets): a lease older than the revision the asker holds, or a lease that matches the request
 * exactly beside a record that does not yet show the lease, is such a lagging read, and is read again.
 */
async function readChecked(deps: Omit<HandoutDeps, "nc" | "log">, r: HandoutRequest): Promise<JobRecord> {
  const jobId = String(r.jobId);
  for (let i = 0; ; i++) {
    const cached = i === 0 ? deps.cachedRecord?.(jobId) : undefined;
    const current = cached && cached.attempt === r.attempt && ACTIVE.has(cached.state) && cached.agentId === r.agentId ? cached : undefined;
    const [fresh, lease] = await Promise.all([current ? null : deps.store.get(jobId), readLease(deps.leases, jobId)]);
    const job = current ?? fresh?.value;
    const leaseLags = !!lease && lease.revision < r.leaseRevision;
    const leaseMatches = !!lease && lease.revision === r.leaseRevision && lease.value.agentId === r.agentId && lease.value.attempt === r.attempt;
    const recordLags = leaseMatches && (!job || job.attempt < r.attempt || (job.attempt === r.attempt && (!ACTIVE.has(job.state) || job.agentId !== r.agentId)));
    if ((leaseLags || recordLags || (!lease && i === 0)) && i < LAG_RETRIES) {
      await Bun.sleep(LAG_RETRY_MS);
      continue;
    }
    if (!job) throw new AppError("not_found", `job ${r.jobId} not found`);
    if (job.attempt !== r.attempt) throw refuse("wrong_attempt", `job ${r.jobId} is not at attempt ${r.attempt}`);
    if (!ACTIVE.has(job.state)) throw refuse("not_active", `job ${r.jobId} is ${job.state}, not on an agent`);
    if (!lease || lease.value.agentId !== r.agentId || job.agentId !== r.agentId) throw refuse("not_holder", `agent ${r.agentId} does not hold the lease of ${r.jobId}`);
    if (lease.value.attempt !== r.attempt) throw refuse("wrong_attempt", `the lease of ${r.jobId} is for attempt ${lease.value.attempt}`);
    if (lease.revision !== r.leaseRevision) throw refuse("stale_lease", `the lease of ${r.jobId} is at revision ${lease.revision}, not ${r.leaseRevision}`);
    return job;
  }
}

/** The job's secrets, the attempt's log credential and the job's registry credential, for the lease holder only. */
export async function handoutFor(deps: Omit<HandoutDeps, "nc" | "log">, r: HandoutRequest, checked?: (job: JobRecord) => void): Promise<Handout> {
  const caller = await verifyToken(deps.authSecret, r.agentToken);
  await deps.ledger?.check(caller);
  if (caller.role !== "agent") throw new AppError("unauthorized", "the secrets handout takes an agent token");
  if (caller.agentId !== r.agentId) throw refuse("not_holder", `this agent token is bound to agent ${caller.agentId}, not ${r.agentId}`);
  const job = await readChecked(deps, r);
  checked?.(job);
  const org = orgOf(job);
  const cache = job.cache;
  const [logCredential, registryCredential, opened, cacheToken] = await Promise.all([
    mintLogCredential(deps.authSecret, { jobId: r.jobId, attempt: r.attempt, agentId: r.agentId, org, meta: jobMetaOf(job), ttlSeconds: logCredentialTtl(job.timeoutSeconds) }),
    mintRegistryCredential(deps.authSecret, { jobId: r.jobId, attempt: r.attempt, org, ttlSeconds: registryCredentialTtl(job.timeoutSeconds) }),
    job.sealed ? openJobSecrets(deps.secretsKey, r.jobId, job.sealed) : ({ secrets: {} } as SealedPayload),
    // Valid for this attempt's run (its timeout plus the log credential's grace), not for the time it waited.
    cache && deps.mintCacheToken ? deps.mintCacheToken({ org, repo: cache.repo, ref: cache.ref, ttlSeconds: logCredentialTtl(job.timeoutSeconds), jobId: r.jobId }) : undefined,
  ]);
  // A record sealed before the handout minted cache tokens brings its own.
  return { ...opened, ...(cache && !opened.cacheToken && cacheToken ? { cacheToken } : {}), logCredential, registryCredential };
}

/** Seal the answer to the agent's reply key; a bare P-256 key (an agent from before reply keys) gets a per-answer ECDH-ES JWE. */
async function sealForAgent(sealer: ReplySealer, replyKey: HandoutRequest["replyKey"], h: Handout): Promise<string> {
  const plaintext = new TextEncoder().encode(JSON.stringify(h));
  if (isReplyKey(replyKey)) return sealer.seal(replyKey, plaintext);
  let key: CryptoKey | Uint8Array;
  try {
    if (!replyKey || replyKey.kty !== "EC" || replyKey.crv !== "P-256" || "d" in replyKey) throw new Error("not a P-256 public key");
    key = await importJWK(replyKey, "ECDH-ES");
  } catch (e) {
    throw new AppError("bad_request", `replyKey: ${errorMessage(e)}`);
  }
  return new CompactEncrypt(plaintext).setProtectedHeader({ alg: "ECDH-ES", enc: "A256GCM" }).encrypt(key);
}

/** The handout's span, only under the lease holder's attempt span of the job's own trace (a forged header names another trace: no span). */
export function traceHandout(tracing: Tracing | undefined, traceparent: string | undefined, job: JobRecord | undefined, attempt: number, start: number): void {
  if (!tracing?.enabled || !traceparent || !job?.trace) return;
  if (parseTraceparent(traceparent)?.traceId !== parseTraceparent(job.trace.traceparent)?.traceId) return;
  const attributes = { "nimbus.job.id": job.id, "nimbus.org": job.org, "nimbus.pool": job.pool, "nimbus.job.source": job.source, "nimbus.job.attempt": attempt, "nimbus.agent.id": job.agentId ?? "" };
  tracing.emit(traceparent, [{ name: "handout", parent: "root", start, end: Date.now(), attributes }]);
}

export function startHandoutService(deps: HandoutDeps): { stop(): void } {
  const enc = new TextEncoder();
  const sealer = new ReplySealer();
  const sub = deps.nc.subscribe(HANDOUT_SUBJECT, {
    queue: HANDOUT_QUEUE,
    callback: (err, msg: Msg) => {
      if (err) return;
      void (async () => {
        let reply: HandoutReply;
        const start = Date.now();
        let job: JobRecord | undefined;
        try {
          const r = msg.json<HandoutRequest>();
          reply = { ok: true, sealedForAgent: await sealForAgent(sealer, r.replyKey, await handoutFor(deps, r, (j) => (job = j))) };
          traceHandout(deps.tracing, traceparentOf(msg.headers), job, r.attempt, start);
        } catch (e) {
          const code: ErrorCode = e instanceof AppError ? e.code : "unavailable";
          const refusal = e instanceof AppError ? (e.details?.refusal as HandoutRefusal | undefined) : undefined;
          reply = { ok: false, code, message: errorMessage(e), ...(refusal ? { refusal } : {}) };
          if (code === "unavailable") deps.log.warn("secrets handout failed", { error: reply.message });
          else deps.log.info("secrets handout refused", { code, refusal });
        }
        msg.respond(enc.encode(JSON.stringify(reply)));
      })();
    },
  });
  return { stop: () => sub.unsubscribe() };
}
