/**
 * Sealed secrets and the claim-time handout against a real nats-server: nothing secret in the KV
 * entry or in JetStream's files on disk (before and after the job ends), the handout answers the
 * lease holder only, a sealed blob copied into another job does not open, the blob is gone once the
 * job is terminal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer } from "../support/nats.ts";
import { waitFor } from "../support/net.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, type Topology } from "../../src/nats/topology.ts";
import { JobStore } from "../../src/jobs/store.ts";
import { Lease } from "../../src/jobs/lifecycle/lease.ts";
import { fencedWrite, tryTransition } from "../../src/jobs/lifecycle/transition.ts";
import { submitJob, type SubmitDeps } from "../../src/jobs/submit.ts";
import { parseJobSpec } from "../../src/jobs/spec.ts";
import { compactDecrypt, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { mintRuntimeToken, scopesForRun, verifyRuntimeToken } from "../../src/protocol/cache-token.ts";
import { HANDOUT_SUBJECT, requestHandout } from "../../src/jobs/handout.ts";
import { handoutFor, startHandoutService } from "../../src/control/handout.ts";
import { LedgerView, TokenLedger } from "../../src/auth/ledger-store.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";
import { BOOTSTRAP_ACTOR } from "../../src/auth/ledger.ts";
import { openJobSecrets, sealJobSecrets } from "../../src/auth/seal.ts";
import { mintToken } from "../../src/auth/tokens.ts";
import { LOG_CREDENTIAL_GRACE_SECONDS, verifyLogCredential } from "../../src/auth/log-credential.ts";
import { createLogger } from "../../src/core/log.ts";
import { AppError, isAppError } from "../../src/core/errors.ts";
import type { JobRecord, Versioned } from "../../src/jobs/record.ts";

const AUTH = "a".repeat(40);
const KEY = new Uint8Array(randomBytes(32));
const SECRET = `s3cret-${randomBytes(8).toString("hex")}`;
const CACHE_TOKEN = `cache-token-${randomBytes(8).toString("hex")}`;

let nats: NatsServer;
let nc: NatsConnection;
let t: Topology;
let store: JobStore;
let service: { stop(): void };
let tokenA: string;
let tokenB: string;
const deps = (): SubmitDeps => ({
  store,
  labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" },
  maxAttempts: 2,
  cache: true,
  seal: (jobId, p) => sealJobSecrets(KEY, jobId, p),
});

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url, name: "test" });
  t = await ensureTopology(nc);
  store = new JobStore(t.jobs, t.js);
  service = startHandoutService({ nc, store, leases: t.leases, secretsKey: KEY, authSecret: AUTH, mintCacheToken: async () => CACHE_TOKEN, log: createLogger("test") });
  tokenA = (await mintToken(AUTH, { sub: "agent-a", role: "agent", ttlSeconds: 600 })).token;
  tokenB = (await mintToken(AUTH, { sub: "agent-b", role: "agent", ttlSeconds: 600 })).token;
});
afterAll(async () => {
  service?.stop();
  await nc?.close();
  await nats?.stop();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}
/** Every byte JetStream keeps on disk, as one buffer. */
const storeBytes = () => Buffer.concat(filesUnder(nats.dir).map((f) => readFileSync(f)));

async function claimed(agentId: string, spec: Record<string, unknown>): Promise<{ job: Versioned<JobRecord>; lease: Lease }> {
  const { job } = await submitJob(deps(), parseJobSpec({ command: ["sh", "-c", "echo $TOKEN"], ...spec }), { sub: "admin", org: "default" });
  const lease = (await Lease.acquire(t.leases, { jobId: job.value.id, agentId, attempt: 1, ttlMs: 60_000 }))!;
  const leased = await tryTransition(store, job, "leased", { agentId });
  if (leased === "stale") throw new Error("stale");
  return { job: leased, lease };
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; refusal?: unknown }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return { code: e.code, refusal: e.details?.refusal };
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("sealed at rest", () => {
  test("the KV entry and JetStream's files hold no secret value or cache token, before and after the job ends", async () => {
    const { job, lease } = await claimed("agent-a", { secrets: { TOKEN: SECRET } });
    const raw = new TextDecoder().decode((await t.jobs.get(job.value.id))!.value);
    expect(raw).toContain("TOKEN"); // the name is kept
    expect(raw).not.toContain(SECRET);
    expect(raw).not.toContain(CACHE_TOKEN);
    expect(job.value.sealed).toBeString();
    // Positive control: the record has reached the files (its id is there) before looking for secrets in them.
    await waitFor(async () => storeBytes().includes(job.value.id), 10_000, "record on disk");
    expect(storeBytes().includes(SECRET)).toBe(false);
    expect(storeBytes().includes(CACHE_TOKEN)).toBe(false);

    const done = await fencedWrite(lease, store, job, "succeeded", { exitCode: 0 });
    expect(done).not.toBe("lost");
    const after = (await store.get(job.value.id))!.value;
    expect(after.state).toBe("succeeded");
    expect(after.sealed).toBeUndefined(); // dropped at the terminal transition
    expect(new TextDecoder().decode((await t.jobs.get(job.value.id))!.value)).not.toContain('"sealed"');
    await waitFor(async () => storeBytes().includes('"succeeded"'), 10_000, "final record on disk");
    expect(storeBytes().includes(SECRET)).toBe(false);
    expect(storeBytes().includes(CACHE_TOKEN)).toBe(false);
  });

  test("every terminal transition drops the sealed blob, also an unleased one (cancel before start)", async () => {
    const { job } = await submitJob(deps(), parseJobSpec({ command: ["true"], secrets: { TOKEN: SECRET } }), { sub: "admin", org: "default" });
    expect(job.value.sealed).toBeString();
    const cancelled = await tryTransition(store, job, "cancelled", { reason: "cancelled" });
    expect(cancelled === "stale" ? null : cancelled.value.sealed).toBeUndefined();
  });

  test("a sealed blob copied into another job's record does not open", async () => {
    const { job: a } = await claimed("agent-a", { secrets: { TOKEN: SECRET } });
    const { job: b, lease } = await claimed("agent-a", { command: ["true"], secrets: { OTHER: "other-value" } });
    expect(isAppError(await openJobSecrets(KEY, b.value.id, a.value.sealed!).catch((e) => e), "forbidden")).toBe(true);
    // Written into b's record (as a hostile writer to the jobs bucket could), the handout still refuses it.
    const forged = await fencedWrite(lease, store, b, "booting", { sealed: a.value.sealed });
    expect(forged).not.toBe("lost");
    const r = await refusal(requestHandout(nc, { jobId: b.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA }));
    expect(r.code).toBe("forbidden");
  });

  test("a blob sealed with another key does not open", async () => {
    const sealed = await sealJobSecrets(new Uint8Array(randomBytes(32)), "j-x", { secrets: { A: "b" } });
    expect(isAppError(await openJobSecrets(KEY, "j-x", sealed).catch((e) => e), "forbidden")).toBe(true);
  });
});

describe("the claim-time handout", () => {
  test("the lease holder gets the job's secrets and cache token", async () => {
    const { job, lease } = await claimed("agent-a", { secrets: { TOKEN: SECRET } });
    const h = await requestHandout(nc, { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA });
    const { logCredential, registryCredential: _registry, ...rest } = h;
    expect(rest).toEqual({ secrets: { TOKEN: SECRET }, cacheToken: CACHE_TOKEN });
    // The attempt's log credential: this job, this attempt, this agent, the job's org ("default" on a record without one).
    expect(await verifyLogCredential(AUTH, logCredential)).toMatchObject({ jobId: job.value.id, attempt: 1, agentId: "agent-a", org: "default" });
    // It carries the job's searchable fields, so the log service stores them without reading the record.
    expect((await verifyLogCredential(AUTH, logCredential)).meta).toEqual({ repo: job.value.cache?.repo ?? "", workflow: "", jobName: job.value.name ?? "", branch: "main" });
  });

  test("a job with a cache scope and no secrets stores no sealed blob; its cache token is minted at claim, for its scope, valid for its run", async () => {
    const mint = ({ org, repo, ref, ttlSeconds, jobId }: { org: string; repo: string; ref: string; ttlSeconds: number; jobId: string }) =>
      mintRuntimeToken(AUTH, { org, repo, scopes: scopesForRun({ ref }), ttlSeconds, subject: jobId });
    const hdeps = { store, leases: t.leases, secretsKey: KEY, authSecret: AUTH, mintCacheToken: mint };
    const { job, lease } = await claimed("agent-a", { command: ["true"], timeoutSeconds: 600, cache: { repo: "acme/app", ref: "refs/heads/dev" } });
    expect(job.value.sealed).toBeUndefined();
    expect(job.value.cache).toEqual({ repo: "acme/app", ref: "refs/heads/dev" });
    const req = { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA, replyKey: {} };
    const h = await handoutFor(hdeps, req);
    expect(await verifyRuntimeToken(AUTH, h.cacheToken)).toMatchObject({ org: "default", repo: "acme/app" });
    const exp = decodeJwt(h.cacheToken!).exp! - Math.floor(Date.now() / 1000);
    expect(Math.abs(exp - (600 + LOG_CREDENTIAL_GRACE_SECONDS))).toBeLessThan(60);
    // A record sealed before the handout minted cache tokens keeps its own.
    const forged = await fencedWrite(lease, store, job, "booting", { sealed: await sealJobSecrets(KEY, job.value.id, { secrets: {}, cacheToken: CACHE_TOKEN }) });
    expect(forged).not.toBe("lost");
    expect((await handoutFor(hdeps, { ...req, leaseRevision: lease.revision })).cacheToken).toBe(CACHE_TOKEN);
  });

  test("on the bus the answer is sealed: a subscriber to every reply subject sees no secret; an agent from before reply keys gets an ECDH-ES answer", async () => {
    const { job, lease } = await claimed("agent-a", { secrets: { TOKEN: SECRET } });
    const seen: string[] = [];
    const snoop = nc.subscribe("_INBOX.>", { callback: (_e, m) => void seen.push(new TextDecoder().decode(m.data)) });
    const base = { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA };
    expect((await requestHandout(nc, base)).secrets).toEqual({ TOKEN: SECRET });
    const { publicKey, privateKey } = await generateKeyPair("ECDH-ES", { crv: "P-256" });
    const legacy = await nc.request(HANDOUT_SUBJECT, new TextEncoder().encode(JSON.stringify({ ...base, replyKey: await exportJWK(publicKey) })));
    const sealed = (legacy.json() as { sealedForAgent: string }).sealedForAgent;
    expect(decodeProtectedHeader(sealed).alg).toBe("ECDH-ES");
    expect(JSON.parse(new TextDecoder().decode((await compactDecrypt(sealed, privateKey)).plaintext)).secrets).toEqual({ TOKEN: SECRET });
    await nc.flush();
    snoop.unsubscribe();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const s of seen) expect(s).not.toContain(SECRET);
  });

  test("a job without secrets still gets its attempt's log credential", async () => {
    const { job, lease } = await claimed("agent-a", {});
    const h = await requestHandout(nc, { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA });
    expect((await verifyLogCredential(AUTH, h.logCredential)).jobId).toBe(job.value.id);
  });

  test("refused: another agent, a wrong attempt, a stale lease revision, a bad token, a finished job", async () => {
    const { job, lease } = await claimed("agent-a", { secrets: { TOKEN: SECRET } });
    const base = { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA };
    expect(await refusal(requestHandout(nc, { ...base, agentId: "agent-b", agentToken: tokenB }))).toEqual({ code: "forbidden", refusal: "not_holder" });
    expect(await refusal(requestHandout(nc, { ...base, attempt: 2 }))).toEqual({ code: "forbidden", refusal: "wrong_attempt" });
    expect(await refusal(requestHandout(nc, { ...base, agentToken: "not-a-token" }))).toEqual({ code: "unauthorized", refusal: undefined });
    expect(await refusal(requestHandout(nc, { ...base, agentToken: (await mintToken(AUTH, { sub: "admin", role: "operator", ttlSeconds: 60 })).token }))).toMatchObject({ code: "unauthorized" });
    const old = lease.revision;
    await lease.renew();
    expect(await refusal(requestHandout(nc, { ...base, leaseRevision: old }))).toEqual({ code: "forbidden", refusal: "stale_lease" });
    // The holder at its current revision still gets them.
    expect((await requestHandout(nc, { ...base, leaseRevision: lease.revision })).secrets).toEqual({ TOKEN: SECRET });
    const done = await fencedWrite(lease, store, job, "failed", { exitCode: 1 });
    expect(done).not.toBe("lost");
    expect(await refusal(requestHandout(nc, { ...base, leaseRevision: lease.revision }))).toEqual({ code: "forbidden", refusal: "not_active" });
  });

  test("with the replica's record copy: a copy that lags is read again from NATS; the lease stays the fence", async () => {
    const { job, lease } = await claimed("agent-a", { secrets: { TOKEN: SECRET } });
    const copies = new Map<string, JobRecord>();
    const reads: string[] = [];
    const counting = { ...store, get: async (id: string) => (reads.push(id), store.get(id)) } as typeof store;
    const hdeps = { store: counting, leases: t.leases, secretsKey: KEY, authSecret: AUTH, cachedRecord: (id: string) => copies.get(id) };
    const req = { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA, replyKey: {} };
    // No copy yet, or one from before the claim (queued, no agent): read from NATS, served.
    expect((await handoutFor(hdeps, req)).secrets).toEqual({ TOKEN: SECRET });
    copies.set(job.value.id, { ...job.value, state: "queued", agentId: undefined });
    expect((await handoutFor(hdeps, req)).secrets).toEqual({ TOKEN: SECRET });
    expect(reads).toEqual([job.value.id, job.value.id]);
    // A current copy spares the read.
    copies.set(job.value.id, (await store.get(job.value.id))!.value);
    expect((await handoutFor(hdeps, req)).secrets).toEqual({ TOKEN: SECRET });
    expect(reads.length).toBe(2);
    // The copy never stands in for the lease: another agent, a stale revision, another attempt are refused.
    expect(await refusal(handoutFor(hdeps, { ...req, agentId: "agent-b", agentToken: tokenB }))).toEqual({ code: "forbidden", refusal: "not_holder" });
    const old = lease.revision;
    await lease.renew();
    expect(await refusal(handoutFor(hdeps, { ...req, leaseRevision: old }))).toEqual({ code: "forbidden", refusal: "stale_lease" });
    copies.set(job.value.id, { ...copies.get(job.value.id)!, attempt: 2 });
    expect(await refusal(handoutFor(hdeps, { ...req, attempt: 2, leaseRevision: lease.revision }))).toEqual({ code: "forbidden", refusal: "wrong_attempt" });
    await lease.release();
    copies.set(job.value.id, (await store.get(job.value.id))!.value);
    expect(await refusal(handoutFor(hdeps, { ...req, leaseRevision: lease.revision }))).toEqual({ code: "forbidden", refusal: "not_holder" });
  });

  test("a read from a replica that lags the claim (a replicated bucket's direct get) is taken again, not refused", async () => {
    const { job, lease } = await claimed("agent-a", { secrets: { TOKEN: SECRET } });
    // The first two reads answer as a follower that has not applied the claim yet: the record still queued.
    let reads = 0;
    const lagging = { ...store, get: async (id: string) => (++reads <= 2 ? { ...job, value: { ...job.value, state: "queued" as const, agentId: undefined } } : store.get(id)) } as typeof store;
    const hdeps = { store: lagging, leases: t.leases, secretsKey: KEY, authSecret: AUTH };
    const req = { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken: tokenA, replyKey: {} };
    expect((await handoutFor(hdeps, req)).secrets).toEqual({ TOKEN: SECRET });
    expect(reads).toBe(3);
    // A record that really is not on the asker (the lease is another's) is refused without waiting on it.
    reads = 10;
    expect(await refusal(handoutFor(hdeps, { ...req, agentId: "agent-b", agentToken: tokenB }))).toEqual({ code: "forbidden", refusal: "not_holder" });
    expect(reads).toBe(11);
  });

  test("a job no agent holds, or that does not exist, gives nothing", async () => {
    const { job } = await submitJob(deps(), parseJobSpec({ command: ["true"], secrets: { TOKEN: SECRET } }), { sub: "admin", org: "default" });
    const r = await refusal(requestHandout(nc, { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: 1, agentToken: tokenA }));
    expect(r).toEqual({ code: "forbidden", refusal: "not_active" });
    expect((await refusal(requestHandout(nc, { jobId: "j-nope", attempt: 1, agentId: "agent-a", leaseRevision: 1, agentToken: tokenA }))).code).toBe("not_found");
  });
});

describe("the handout against the token ledger", () => {
  test("an agent token that was served once is refused after its revocation (a verified token is still checked against the ledger every time)", async () => {
    const view = await LedgerView.start(t.tokens);
    try {
      const ledger = new TokenLedger(t.tokens);
      const { token, entry } = await bootstrapToken({ secret: AUTH, ledger }, { sub: "agent-r", role: "agent", ttlSeconds: 600 });
      const hdeps = { store, leases: t.leases, secretsKey: KEY, authSecret: AUTH, ledger: view };
      const { job, lease } = await claimed("agent-r", { secrets: { TOKEN: SECRET } });
      const req = { jobId: job.value.id, attempt: 1, agentId: "agent-r", leaseRevision: lease.revision, agentToken: token, replyKey: {} };
      await waitFor(async () => !!view.get(entry.id), 5000, "the ledger view knows the token");
      expect((await handoutFor(hdeps, req)).secrets).toEqual({ TOKEN: SECRET });
      expect((await handoutFor(hdeps, req)).secrets).toEqual({ TOKEN: SECRET }); // verified again: the cached signature check
      await ledger.revoke(entry.id, BOOTSTRAP_ACTOR);
      await waitFor(async () => !!view.get(entry.id)?.revoked, 5000, "the ledger view sees the revocation");
      const e = await handoutFor(hdeps, req).catch((x) => x);
      expect(isAppError(e, "unauthorized")).toBe(true);
      expect((e as AppError).message).toBe("token was revoked");
      expect(JSON.stringify((e as AppError).toJSON())).not.toContain(SECRET);
    } finally {
      view.stop();
    }
  });

  test("a request naming no valid job is refused before anything is minted or opened", async () => {
    const { token } = await bootstrapToken({ secret: AUTH, ledger: new TokenLedger(t.tokens) }, { sub: "agent-q", role: "agent", ttlSeconds: 600 });
    const hdeps = { store, leases: t.leases, secretsKey: KEY, authSecret: AUTH };
    const base = { attempt: 1, agentId: "agent-q", leaseRevision: 1, agentToken: token, replyKey: {} };
    expect((await refusal(handoutFor(hdeps, { ...base, jobId: "j-nope" }))).code).toBe("not_found");
    // A number where the id goes reads as its text (the lease is looked up under the same key), still not found.
    expect((await refusal(handoutFor(hdeps, { ...base, jobId: 42 as unknown as string }))).code).toBe("not_found");
  });
});

describe("a secret typed into the command", () => {
  test("is refused with validation_failed (422), naming the secret, never its value, pointing at --secret", async () => {
    for (const spec of [
      { command: ["curl", "-H", `Authorization: ${SECRET}`], secrets: { API_TOKEN: SECRET } },
      { command: ["true"], env: { HEADER: `x ${SECRET}` }, secrets: { API_TOKEN: SECRET } },
    ]) {
      const e = await submitJob(deps(), parseJobSpec(spec), { sub: "admin", org: "default" }).catch((x) => x);
      expect(isAppError(e, "validation_failed")).toBe(true);
      expect((e as AppError).status).toBe(422);
      expect((e as AppError).message).toContain("API_TOKEN");
      expect((e as AppError).message).toContain("--secret API_TOKEN");
      expect((e as AppError).message).not.toContain(SECRET);
      expect(JSON.stringify((e as AppError).toJSON())).not.toContain(SECRET);
    }
  });
});
