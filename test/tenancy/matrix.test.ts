/**
 * The tenant matrix (issue #11, Acceptance): every route of every service (control plane, logs,
 * cache, registry, webhooks, metrics), read from the apps' route tables (the registry's distribution
 * API, one catch-all there, as each shape its router parses), against a principal of every kind —
 * an org-admin, a member, a viewer and a service account in each of two orgs, an operator, an agent,
 * the cache's runtime tokens of each org, and expired, revoked, wrong-secret, `alg:none`, garbage
 * and missing tokens. Org-scoped routes are tried with the other org's resource.
 *
 * - every route has a rule in RULES, and every rule a route: a new route without one fails here;
 * - a bad token is 401, an over-role call 403, another org's resource 404 (403 where the org is
 *   asked for in a query or body, as for a listing); an allowed call is none of 401/403/404;
 * - the denied calls run first, and change nothing: every JetStream stream (job records and their
 *   revisions, the queue, events, the token ledger, audit, limits, ...), the cache's entries, the
 *   registry's files and each job's log lines are the same before and after.
 */
import { putAgent } from "../../src/agents/registry.ts";
import { createUser } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Webhooks } from "@octokit/webhooks";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { readAudit, type AuditRecord } from "../../src/auth/audit.ts";
import { AUDIT_STREAM } from "../../src/nats/topology.ts";
import { mintToken } from "../../src/auth/tokens.ts";
import type { Role } from "../../src/auth/principal.ts";
import { LOG_CREDENTIAL_HEADER, mintLogCredential } from "../../src/auth/log-credential.ts";
import { mintRuntimeToken, scopesForRun } from "../../src/protocol/cache-token.ts";
import { controlApp } from "../../src/control/app.ts";
import { logApp } from "../../src/logs/app.ts";
import { logMetrics } from "../../src/logs/metrics.ts";
import { NO_META } from "../../src/logs/store.ts";
import { cacheApp } from "../../src/cache/app.ts";
import { registryApp } from "../../src/registry/app.ts";
import { route as registryRoute } from "../../src/registry/http/router.ts";
import { registryAuthDeps } from "../../src/registry/auth/index.ts";
import { snapshot as registryFiles } from "../registry/support/ops.ts";
import { recordedToken } from "../support/tokens.ts";
import { waitFor } from "../support/net.ts";
import { AUTH, startMatrixStack, WEBHOOK_SECRET, type MatrixStack } from "./support/stack.ts";

type Service = "control" | "logs" | "cache" | "registry";
type OrgName = "acme" | "globex";
const ORGS: OrgName[] = ["acme", "globex"];
const other = (o: OrgName): OrgName => (o === "acme" ? "globex" : "acme");

/**
 * How a route is guarded.
 * - public: anyone (health, the dashboard's static files, version info);
 * - bearer: a Nimbus token of one of `allow`'s roles (a service account counts as its role);
 * - runtime: an Actions cache runtime token (minted per job), of the entry's org;
 * - signed: a signed blob URL (no bearer at all);
 * - ingest: an agent token plus the attempt's log credential;
 * - webhook: GitHub's HMAC signature over the body; forge-webhook: a Gitea/Forgejo connection's (none here: 404);
 * - enroll: a one-time enrollment token only (none here);
 * - registry: the distribution API's access check (Nimbus tokens as Bearer): another org's repository,
 *   or any repository to an agent token (it has no org), is NAME_UNKNOWN (404), a role's missing
 *   action DENIED (403); `/v2/` takes any valid credential;
 * - tokenflow: the Docker token endpoint: anyone gets a token (anonymous too) holding only what the
 *   caller may; a bad credential is 401.
 * `scope` says where the org of the call's resource is named: in the path (`:id`, `:org`: another
 * org's is a 404), or as the org asked for in the query or body (another org's is a 403).
 */
interface Rule {
  auth: "public" | "bearer" | "runtime" | "signed" | "ingest" | "webhook" | "forge-webhook" | "enroll" | "registry" | "tokenflow";
  allow?: Role[];
  scope?: "path" | "query" | "body";
  /** Extra query text (without `?`). */
  query?: string | ((t: Target) => string);
  body?: (t: Target, who: Principal) => unknown;
  /** The body's content type (default JSON). */
  contentType?: string;
  /** The allowed call consumes its resource (a delete): each allowed call gets a fresh one. */
  fresh?: true;
  /** tokenflow: whether a call without any credential gets a token (the GET form's anonymous pull). */
  anonymous?: false;
  /** The allowed call consumes a registry resource: what to make fresh for it. */
  refresh?: (org: OrgName) => Promise<Partial<Target>>;
}

const READERS: Role[] = ["operator", "org-admin", "member", "viewer"];
const SUBMITTERS: Role[] = ["operator", "org-admin", "member"];
const ADMINS: Role[] = ["operator", "org-admin"];
const OPERATOR: Role[] = ["operator"];
const stranded = { command: ["true"], labels: ["nimbus", "isolation:vm"] }; // no agent serves it: it stays queued

// The registry fixtures: one image config and a manifest over it, in each org's `ORG/matrix-app`.
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_BLOB = '{"os":"linux","matrix":1}';
const sha = (text: string) => `sha256:${new Bun.CryptoHasher("sha256").update(text).digest("hex")}`;
const MANIFEST_JSON = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(CONFIG_BLOB), size: CONFIG_BLOB.length }, layers: [] });
const X_DIGEST = sha("x"); // the one byte the matrix's PATCH and PUT send

export const RULES: Record<string, Rule> = {
  // control plane: the dashboard and health
  "control GET /": { auth: "public" },
  "control GET /favicon.svg": { auth: "public" },
  "control GET /favicon.ico": { auth: "public" },
  "control GET /ui/:file": { auth: "public" },
  "control GET /healthz": { auth: "public" },
  "control GET /readyz": { auth: "public" },
  "control GET /api/info": { auth: "public" },
  "control GET /metrics": { auth: "bearer", allow: OPERATOR },
  // control plane: the API
  "control GET /api/whoami": { auth: "bearer", allow: READERS },
  "control GET /api/orgs": { auth: "bearer", allow: READERS },
  "control GET /api/agents": { auth: "bearer", allow: READERS },
  "control GET /api/queue": { auth: "bearer", allow: READERS, scope: "query" },
  "control POST /api/tokens": { auth: "bearer", allow: ADMINS, scope: "body", body: (t) => ({ role: "viewer", org: t.org, name: `minted-${randomUUID().slice(0, 8)}`, ttl: "1h" }) },
  "control GET /api/tokens": { auth: "bearer", allow: ADMINS, scope: "query" },
  "control POST /api/tokens/:id/revoke": { auth: "bearer", allow: ADMINS, scope: "path" },
  "control POST /api/jobs": { auth: "bearer", allow: SUBMITTERS, scope: "body", body: (t) => ({ ...stranded, org: t.org }) },
  "control GET /api/jobs": { auth: "bearer", allow: READERS, scope: "query" },
  "control GET /api/jobs/:id": { auth: "bearer", allow: READERS, scope: "path" },
  "control POST /api/jobs/:id/cancel": { auth: "bearer", allow: SUBMITTERS, scope: "path" },
  "control GET /api/jobs/:id/logs": { auth: "bearer", allow: READERS, scope: "path" },
  "control GET /api/jobs/:id/logs/search": { auth: "bearer", allow: READERS, scope: "path", query: "q=line" },
  "control GET /api/jobs/:id/events": { auth: "bearer", allow: READERS, scope: "path" },
  "control GET /api/jobs/:id/latency": { auth: "bearer", allow: READERS, scope: "path" },
  "control GET /api/labels/explain": { auth: "bearer", allow: READERS, query: "labels=nimbus" },
  "control GET /api/github/jobs/:id": { auth: "bearer", allow: READERS, scope: "path" },
  "control GET /api/github/status": { auth: "bearer", allow: OPERATOR },
  "control GET /api/limits": { auth: "bearer", allow: ADMINS },
  "control GET /api/orgs/:org/limits": { auth: "bearer", allow: ADMINS, scope: "path" },
  "control PUT /api/orgs/:org/limits": { auth: "bearer", allow: OPERATOR, scope: "path", body: () => ({ maxRunning: 50 }) },
  "control GET /api/audit": { auth: "bearer", allow: ADMINS, scope: "query" },
  // control plane: the registry's overview, relayed with the caller's token (the registry decides)
  "control GET /api/registry/usage": { auth: "bearer", allow: READERS, scope: "query" },
  "control GET /api/registry/repositories": { auth: "bearer", allow: READERS, scope: "query" },
  "control GET /api/logs/search": { auth: "bearer", allow: READERS, scope: "query", query: "q=line" },
  "control GET /api/logs/histogram": { auth: "bearer", allow: READERS, scope: "query", query: "q=line" },
  "control POST /webhooks/github": { auth: "webhook" },
  // No forge is configured in the matrix: a delivery names an unknown connection (404) and creates nothing.
  "control POST /webhooks/forge/:id": { auth: "forge-webhook" },
  "control GET /api/forges": { auth: "bearer", allow: OPERATOR },
  // An agent token buys its NATS user here: no person's token does, whatever its role.
  // Enrollment tokens only (test/fleet/agent-enroll.test.ts spends real ones): every other token is refused.
  "control POST /api/agents/enroll": { auth: "enroll", body: () => ({ agentId: "matrix-new-agent" }) },
  // Operators only; the agent is this stack's own (test/fleet/agent-drain-remove.test.ts drains and removes real ones).
  "control POST /api/agents/:id/drain": { auth: "bearer", allow: OPERATOR, refresh: async () => ({ agent: await freshAgent() }) },
  "control POST /api/agents/:id/remove": { auth: "bearer", allow: OPERATOR, refresh: async () => ({ agent: await freshAgent() }) },
  "control POST /api/agents/nats-credentials": { auth: "bearer", allow: ["agent"], body: () => ({ publicKey: createUser().getPublicKey() }) },
  // log service
  "logs GET /healthz": { auth: "public" },
  "logs GET /readyz": { auth: "public" },
  "logs POST /v1/logs": { auth: "ingest" },
  "logs GET /v1/jobs/:id/logs": { auth: "bearer", allow: READERS, scope: "path" },
  "logs GET /v1/jobs/:id/logs/search": { auth: "bearer", allow: READERS, scope: "path", query: "q=line" },
  "logs GET /v1/jobs/:id/logs/follow": { auth: "bearer", allow: READERS, scope: "path" },
  "logs GET /metrics": { auth: "bearer", allow: OPERATOR },
  "logs GET /v1/logs/search": { auth: "bearer", allow: READERS, scope: "query", query: "q=line" },
  "logs GET /v1/logs/histogram": { auth: "bearer", allow: READERS, scope: "query", query: "q=line" },
  "logs GET /v1/logs/search/follow": { auth: "bearer", allow: READERS, scope: "query", query: "q=line" },
  // cache service: the Actions protocols (runtime tokens) and signed blob URLs
  "cache GET /healthz": { auth: "public" },
  "cache GET /readyz": { auth: "public" },
  "cache GET /_apis/artifactcache/cache": { auth: "runtime", query: "keys=matrix-key&version=v1" },
  "cache POST /_apis/artifactcache/caches": { auth: "runtime", body: () => ({ key: `new-${randomUUID()}`, version: "v1" }) },
  "cache GET /_apis/artifactcache/caches": { auth: "runtime" },
  "cache PATCH /_apis/artifactcache/caches/:id": { auth: "runtime", scope: "path" },
  "cache POST /_apis/artifactcache/caches/:id": { auth: "runtime", scope: "path", body: () => ({ size: 1 }) },
  "cache POST /twirp/github.actions.results.api.v1.CacheService/:method": { auth: "runtime", body: () => ({ key: "matrix-key", version: "v1" }) },
  "cache PUT /blob/:account/u/:id": { auth: "signed" },
  "cache GET /blob/:account/e/:id": { auth: "signed" },
  "cache HEAD /blob/:account/e/:id": { auth: "signed" },
  // cache service: the admin API and metrics
  "cache GET /v1/cache/entries": { auth: "bearer", allow: READERS, scope: "query" },
  "cache GET /v1/cache/usage": { auth: "bearer", allow: READERS, scope: "query" },
  "cache DELETE /v1/cache/entries/:id": { auth: "bearer", allow: ADMINS, scope: "path", fresh: true },
  "cache DELETE /v1/cache/entries": { auth: "bearer", allow: ADMINS, scope: "query", query: "repo=matrix/unused" },
  "cache POST /v1/cache/tokens": { auth: "bearer", allow: ADMINS, scope: "body", body: (t) => ({ org: t.org, repo: REPO, ref: "refs/heads/main" }) },
  "cache GET /v1/cache/status": { auth: "bearer", allow: OPERATOR },
  "cache POST /v1/cache/sweep": { auth: "bearer", allow: OPERATOR },
  "cache GET /metrics": { auth: "bearer", allow: OPERATOR },
  // registry: health, the token endpoint, the distribution API (each shape of the /v2/* catch-all)
  "registry GET /healthz": { auth: "public" },
  "registry GET /v2/token": { auth: "tokenflow", query: (t) => `service=nimbus-registry&scope=repository:${t.repo}:pull,push` },
  "registry POST /v2/token": { auth: "tokenflow", anonymous: false }, // the password grant needs a password
  "registry GET /v2/": { auth: "registry" },
  "registry GET /v2/:repo/tags/list": { auth: "registry", allow: READERS, scope: "path" },
  "registry GET /v2/:repo/manifests/:tag": { auth: "registry", allow: READERS, scope: "path" },
  "registry HEAD /v2/:repo/manifests/:tag": { auth: "registry", allow: READERS, scope: "path" },
  "registry PUT /v2/:repo/manifests/:tag": { auth: "registry", allow: SUBMITTERS, scope: "path", body: () => MANIFEST_JSON, contentType: OCI_MANIFEST },
  "registry DELETE /v2/:repo/manifests/:tag": { auth: "registry", allow: ADMINS, scope: "path", refresh: async (org) => ({ tag: await freshTag(org) }) },
  "registry GET /v2/:repo/blobs/:digest": { auth: "registry", allow: READERS, scope: "path" },
  "registry HEAD /v2/:repo/blobs/:digest": { auth: "registry", allow: READERS, scope: "path" },
  "registry DELETE /v2/:repo/blobs/:digest": { auth: "registry", allow: ADMINS, scope: "path", refresh: async (org) => ({ digest: await freshBlob(org) }) },
  "registry POST /v2/:repo/blobs/uploads/": { auth: "registry", allow: SUBMITTERS, scope: "path" },
  "registry GET /v2/:repo/blobs/uploads/:upload": { auth: "registry", allow: SUBMITTERS, scope: "path" },
  "registry PATCH /v2/:repo/blobs/uploads/:upload": { auth: "registry", allow: SUBMITTERS, scope: "path", refresh: async (org) => ({ upload: await freshUpload(org) }) },
  "registry PUT /v2/:repo/blobs/uploads/:upload": { auth: "registry", allow: SUBMITTERS, scope: "path", query: () => `digest=${X_DIGEST}`, refresh: async (org) => ({ upload: await freshUpload(org) }) },
  "registry DELETE /v2/:repo/blobs/uploads/:upload": { auth: "registry", allow: SUBMITTERS, scope: "path", refresh: async (org) => ({ upload: await freshUpload(org) }) },
  "registry GET /v2/:repo/referrers/:digest": { auth: "registry", allow: READERS, scope: "path" },
  // registry: the admin API and metrics (another org's repository, named in `repo=`, is a 404)
  "registry GET /v1/registry/repositories": { auth: "bearer", allow: READERS, scope: "query" },
  "registry GET /v1/registry/usage": { auth: "bearer", allow: READERS, scope: "query" },
  "registry GET /v1/registry/tags": { auth: "bearer", allow: READERS, scope: "path", query: (t) => `repo=${t.repo}` },
  "registry DELETE /v1/registry/repositories": { auth: "bearer", allow: ADMINS, scope: "path", query: (t) => `repo=${t.repo}`, refresh: async (org) => ({ repo: await freshRepo(org) }) },
  "registry DELETE /v1/registry/tags": { auth: "bearer", allow: ADMINS, scope: "path", query: (t) => `repo=${t.repo}&tag=${t.tag}`, refresh: async (org) => ({ tag: await freshTag(org) }) },
  "registry GET /metrics": { auth: "bearer", allow: OPERATOR },
};

/** The distribution API's shapes: each rule's path parses (src/registry/http/router.ts) to its kind, and every kind has one. */
const DISTRIBUTION_KINDS: Record<string, string> = {
  "/v2/": "base", "/v2/:repo/tags/list": "tags", "/v2/:repo/manifests/:tag": "manifest", "/v2/:repo/blobs/:digest": "blob",
  "/v2/:repo/blobs/uploads/": "uploads", "/v2/:repo/blobs/uploads/:upload": "upload", "/v2/:repo/referrers/:digest": "referrers",
};
const REGISTRY_CATCH_ALL = ["registry ALL /v2", "registry ALL /v2/*"];

const REPO = "matrix/repo"; // the same repository name in both orgs: only the org tells their entries apart

/** A caller: a good token of a role (in an org or platform-wide), a runtime token of an org, or a bad token. */
interface Principal {
  name: string;
  kind: "role" | "runtime" | "bad";
  role?: Role;
  org?: OrgName;
  token: string | null;
}

/** The resources of one org that a call names. */
interface Target {
  org: OrgName;
  job: string;
  /** A job of the org that came from GitHub (a webhook of an installation on the org's account). */
  ghJob: string;
  token: string;
  entry: number;
  /** The org's registry repository (`ORG/matrix-app`), a tag of it, a blob it links (the image config), an open upload of it. */
  repo: string;
  tag: string;
  digest: string;
  upload: string;
  /** An agent in the registry (no org: agents serve every org), for the operator's drain and remove. */
  agent: string;
}

let s: MatrixStack;
/** An agent's registry entry, as a live agent writes it. */
async function freshAgent(): Promise<string> {
  const id = `matrix-agent-${randomUUID().slice(0, 8)}`;
  await putAgent(s.control.ctx.topology.agents, { id, hostname: "matrix", labels: [], pools: [], drivers: ["noop"], slots: 1, running: [], draining: false, startedAt: Date.now(), heartbeatAt: Date.now(), version: "test" });
  return id;
}
const principals: Principal[] = [];
const targets = {} as Record<OrgName, Target>;
const logCredential = {} as Record<OrgName, string>;
const runtime = {} as Record<OrgName, string>;
let operatorToken = "";
const AGENT_ID = "agent-matrix";

const jti = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).jti as string;
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
/** A recorded token; an agent token is bound to the agent named by its subject. */
const token = (sub: string, role: Role, org?: OrgName, extra: { service?: boolean; ttlSeconds?: number } = {}) =>
  recordedToken(s.nats.url, AUTH, { sub, role, org, ttlSeconds: extra.ttlSeconds ?? 600, service: extra.service });

function base(service: Service): string {
  return service === "control" ? s.controlUrl : service === "logs" ? s.logsUrl : service === "registry" ? s.registryUrl : s.cacheUrl;
}

interface Call {
  route: string;
  who: string;
  target: OrgName;
  status: number;
}

/** One request; a stream's status is read and the stream dropped. */
async function call(route: string, who: Principal, t: Target, extraHeaders: Record<string, string> = {}): Promise<Call> {
  const [service, method, path] = route.split(" ") as [Service, string, string];
  const rule = RULES[route]!;
  let url = path
    .replace(":id", String(path.includes("/api/agents/") ? t.agent : path.includes("/tokens/") ? t.token : path.includes("/github/jobs/") ? t.ghJob : path.includes("/jobs/") ? t.job : t.entry))
    .replace(":org", t.org)
    .replace(":file", "app.js")
    .replace(":method", "GetCacheEntryDownloadURL")
    .replace(":account", t.org)
    .replace(":repo", t.repo)
    .replace(":tag", t.tag)
    .replace(":digest", t.digest)
    .replace(":upload", t.upload);
  const q = [typeof rule.query === "function" ? rule.query(t) : rule.query, rule.scope === "query" ? `org=${t.org}` : undefined].filter(Boolean).join("&");
  if (q) url += `?${q}`;
  const headers: Record<string, string> = { ...extraHeaders };
  if (who.token !== null) headers.authorization = `Bearer ${who.token}`;
  let body: string | undefined;
  if (rule.body) {
    const b = rule.body(t, who);
    body = typeof b === "string" ? b : JSON.stringify(b);
    headers["content-type"] = rule.contentType ?? "application/json";
  } else if (route === "registry POST /v2/token") {
    body = new URLSearchParams({ grant_type: "password", username: "ci", password: who.token ?? "", service: "nimbus-registry", scope: `repository:${t.repo}:pull` }).toString();
    headers["content-type"] = "application/x-www-form-urlencoded";
    delete headers.authorization;
  } else if (method === "PATCH" || method === "PUT") {
    body = "x";
    headers["content-type"] = "application/octet-stream";
    headers["content-range"] = "bytes 0-0/*";
  }
  const res = await fetch(base(service) + url, { method, headers, body });
  await res.body?.cancel().catch(() => {});
  return { route, who: who.name, target: t.org, status: res.status };
}

/** Run `fns` in parallel batches (two cores shared with others: bounded, not all at once). */
async function batched<T>(fns: (() => Promise<T>)[], size = 24): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < fns.length; i += size) out.push(...(await Promise.all(fns.slice(i, i + size).map((f) => f()))));
  return out;
}

// ---- what each call must answer -------------------------------------------------------------

type Expect = { denied: true; statuses: number[] } | { denied: false };

/** The answer a principal must get on a route for a target org. */
function expected(rule: Rule, who: Principal, target: OrgName): Expect {
  const deny = (...statuses: number[]): Expect => ({ denied: true, statuses });
  if (rule.auth === "public") return { denied: false };
  if (rule.auth === "webhook") return deny(401); // the matrix sends no signature; signed deliveries are tried below
  if (rule.auth === "forge-webhook") return deny(404); // no such connection (test/gitea/intake.test.ts signs real ones)
  if (rule.auth === "enroll") return deny(401, 403); // no principal here is an enrollment token
  if (rule.auth === "signed") return deny(401, 403); // no signed URL in the matrix
  if (rule.auth === "tokenflow") {
    if (who.token === null) return rule.anonymous === false ? deny(401) : { denied: false };
    return who.kind === "role" ? { denied: false } : deny(401);
  }
  if (who.kind === "bad") return deny(401);
  const cross = who.org !== undefined && who.org !== target;
  if (rule.auth === "registry") {
    if (who.kind !== "role") return deny(401);
    if (!rule.scope) return { denied: false };
    if (who.role === "agent" || cross) return deny(404);
    return rule.allow!.includes(who.role!) ? { denied: false } : deny(403);
  }
  if (rule.auth === "ingest") return deny(...(who.kind === "role" ? [403] : [401, 403])); // no log credential
  if (rule.auth === "runtime") {
    if (who.kind !== "runtime") return deny(401, 403);
    if (cross && rule.scope === "path") return deny(403, 404);
    if (cross) return { denied: true, statuses: [] }; // asked without a resource of the other org: checked below
    return { denied: false };
  }
  // bearer
  if (who.kind !== "role") return deny(401, 403);
  const allowed = rule.allow!.includes(who.role!);
  if (cross && rule.scope) {
    if (!allowed) return deny(403, 404);
    return deny(rule.scope === "path" ? 404 : 403);
  }
  if (!allowed) return deny(403);
  return { denied: false };
}

// ---- fixtures -------------------------------------------------------------------------------

async function api(service: Service, path: string, init: RequestInit & { token?: string; json?: unknown } = {}) {
  const headers: Record<string, string> = { ...(init.headers as Record<string, string>), authorization: `Bearer ${init.token ?? operatorToken}` };
  if (init.json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base(service) + path, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body };
}

/** A cache entry of `org` (reserved; `ready` also uploads and commits one byte). */
async function cacheEntry(org: OrgName, key: string, ready: boolean): Promise<number> {
  const auth = { authorization: `Bearer ${runtime[org]}` };
  const r = await fetch(`${s.cacheUrl}/_apis/artifactcache/caches`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ key, version: "v1" }) });
  if (r.status !== 201) throw new Error(`reserve: ${r.status} ${await r.text()}`);
  const id = ((await r.json()) as { cacheId: number }).cacheId;
  if (ready) {
    const p = await fetch(`${s.cacheUrl}/_apis/artifactcache/caches/${id}`, { method: "PATCH", headers: { ...auth, "content-type": "application/octet-stream", "content-range": "bytes 0-0/*" }, body: "x" });
    const c = await fetch(`${s.cacheUrl}/_apis/artifactcache/caches/${id}`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ size: 1 }) });
    if (p.status !== 204 || c.status !== 204) throw new Error(`upload: ${p.status} ${c.status}`);
  }
  return id;
}

/** A registry call as the operator (who may push and delete in every org). */
async function reg(method: string, path: string, body?: string, type = "application/octet-stream"): Promise<Response> {
  return fetch(`${s.registryUrl}${path}`, { method, headers: { authorization: `Bearer ${operatorToken}`, "content-type": type }, body });
}

/** `ORG/NAME` holding the config blob and a manifest tagged v1; a fresh name unless given. */
async function pushRepo(org: OrgName, name = `${org}/doomed-${randomUUID().slice(0, 8)}`): Promise<string> {
  const blob = await reg("POST", `/v2/${name}/blobs/uploads/?digest=${sha(CONFIG_BLOB)}`, CONFIG_BLOB);
  const put = await reg("PUT", `/v2/${name}/manifests/v1`, MANIFEST_JSON, OCI_MANIFEST);
  if (blob.status !== 201 || put.status !== 201) throw new Error(`push ${name}: ${blob.status} ${put.status}`);
  return name;
}
const freshRepo = (org: OrgName) => pushRepo(org);
async function freshTag(org: OrgName): Promise<string> {
  const tag = `t-${randomUUID().slice(0, 8)}`;
  const r = await reg("PUT", `/v2/${org}/matrix-app/manifests/${tag}`, MANIFEST_JSON, OCI_MANIFEST);
  if (r.status !== 201) throw new Error(`tag ${org}: ${r.status}`);
  return tag;
}
async function freshBlob(org: OrgName): Promise<string> {
  const text = `blob ${randomUUID()}`;
  const r = await reg("POST", `/v2/${org}/matrix-app/blobs/uploads/?digest=${sha(text)}`, text);
  if (r.status !== 201) throw new Error(`blob ${org}: ${r.status}`);
  return sha(text);
}
async function freshUpload(org: OrgName): Promise<string> {
  const r = await reg("POST", `/v2/${org}/matrix-app/blobs/uploads/`);
  if (r.status !== 202) throw new Error(`upload ${org}: ${r.status}`);
  return r.headers.get("docker-upload-uuid")!;
}

/** Lines for a job, shipped as the agent holding its attempt would. */
async function shipLines(org: OrgName, job: string, from: number, texts: string[]): Promise<number> {
  const res = await fetch(`${s.logsUrl}/v1/logs`, {
    method: "POST",
    headers: { authorization: `Bearer ${agentToken}`, [LOG_CREDENTIAL_HEADER]: logCredential[org], "content-type": "application/json" },
    body: JSON.stringify({ jobId: job, attempt: 1, lines: texts.map((text, i) => ({ n: from + i, ts: from + i + 1, stream: "out", text })) }),
  });
  await res.body?.cancel().catch(() => {});
  return res.status;
}
let agentToken = "";

const FIXTURES = resolve(import.meta.dir, "../fixtures/github-webhooks/examples");
let nextGithubJob = 7_000_000;

/** A signed `workflow_job` queued delivery from an installation on `org`'s account: a GitHub job of that org. */
async function githubJob(org: OrgName): Promise<string> {
  const p = JSON.parse(readFileSync(`${FIXTURES}/queued.payload.json`, "utf8"));
  p.action = "queued";
  p.workflow_job = { ...p.workflow_job, id: nextGithubJob++, labels: ["self-hosted", "nimbus", "isolation:vm"], status: "queued", runner_id: null, runner_name: null };
  p.organization = { login: org, id: 1 };
  p.installation = { id: 31337, account: { login: org } };
  const body = JSON.stringify(p);
  const res = await fetch(`${s.controlUrl}/webhooks/github`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "workflow_job", "x-github-delivery": randomUUID(), "x-hub-signature-256": await new Webhooks({ secret: WEBHOOK_SECRET }).sign(body) },
    body,
  });
  const r = (await res.json()) as { jobId?: string };
  if (res.status !== 201 || !r.jobId) throw new Error(`github job for ${org}: ${res.status} ${JSON.stringify(r)}`);
  return r.jobId;
}

beforeAll(async () => {
  s = await startMatrixStack();
  operatorToken = await token("ops", "operator");
  agentToken = await token(AGENT_ID, "agent");
  const expired = await token("late", "operator", undefined, { ttlSeconds: 1 });
  const expiresAt = Date.now() + 1000;
  const revoked = await token("gone", "operator");
  principals.push({ name: "operator", kind: "role", role: "operator", token: operatorToken }, { name: "agent", kind: "role", role: "agent", token: agentToken });
  for (const org of ORGS) {
    principals.push(
      { name: `${org}/org-admin`, kind: "role", role: "org-admin", org, token: await token(`admin-${org}`, "org-admin", org) },
      { name: `${org}/member`, kind: "role", role: "member", org, token: await token(`member-${org}`, "member", org) },
      { name: `${org}/viewer`, kind: "role", role: "viewer", org, token: await token(`viewer-${org}`, "viewer", org) },
      { name: `${org}/service`, kind: "role", role: "member", org, token: await token(`robot-${org}`, "member", org, { service: true }) },
    );
    runtime[org] = await mintRuntimeToken(AUTH, { org, repo: REPO, scopes: scopesForRun({ ref: "refs/heads/main" }), ttlSeconds: 600 });
    principals.push({ name: `${org}/runtime`, kind: "runtime", org, token: runtime[org] });
  }
  // Bad tokens: the wrong secret and alg:none reuse a recorded operator token's id (the ledger alone would pass them).
  const forged = await mintToken("w".repeat(40), { sub: "ops", role: "operator", ttlSeconds: 600, id: jti(operatorToken) });
  const now = Math.floor(Date.now() / 1000);
  const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: "nimbus", aud: "nimbus", sub: "ops", jti: jti(operatorToken), role: "operator", ver: 1, iat: now, exp: now + 600 })}.`;
  principals.push(
    { name: "expired", kind: "bad", token: expired },
    { name: "revoked", kind: "bad", token: revoked },
    { name: "wrong-secret", kind: "bad", token: forged.token },
    { name: "alg-none", kind: "bad", token: none },
    { name: "garbage", kind: "bad", token: "not.a-token" },
    { name: "no-token", kind: "bad", token: null },
  );

  // A job in each org, submitted by that org's member, with log lines; a token to revoke; a cache entry.
  for (const org of ORGS) {
    const member = principals.find((p) => p.name === `${org}/member`)!.token!;
    const sub = await api("control", "/api/jobs", { method: "POST", json: stranded, token: member });
    if (sub.status !== 201) throw new Error(`submit ${org}: ${sub.status} ${JSON.stringify(sub.body)}`);
    const job = sub.body.job.id as string;
    logCredential[org] = await mintLogCredential(AUTH, { jobId: job, attempt: 1, agentId: AGENT_ID, org, ttlSeconds: 600 });
    expect(await shipLines(org, job, 0, [`line 0 of ${org}`, `line 1 of ${org}`])).toBe(200);
    const victim = await token(`victim-${org}`, "viewer", org);
    const repo = await pushRepo(org, `${org}/matrix-app`);
    targets[org] = { org, job, ghJob: await githubJob(org), token: jti(victim), entry: await cacheEntry(org, "matrix-key", true), repo, tag: "v1", digest: sha(CONFIG_BLOB), upload: await freshUpload(org), agent: await freshAgent() };
    expect((await api("control", `/api/jobs/${targets[org].ghJob}`)).body.job.org).toBe(org);
  }

  // Revoke through the API, and wait until every service has seen it (each watches the ledger).
  expect((await api("control", `/api/tokens/${jti(revoked)}/revoke`, { method: "POST" })).status).toBe(200);
  const probes: [Service, string][] = [["control", "/api/whoami"], ["logs", `/v1/jobs/${targets.acme.job}/logs`], ["cache", "/v1/cache/entries"], ["registry", "/v1/registry/usage"], ["registry", "/v2/"]];
  for (const [service, path] of probes) await waitFor(async () => (await api(service, path, { token: revoked })).status === 401, 10_000, `${service} to refuse the revoked token`);
  while (Date.now() < expiresAt + 1100) await Bun.sleep(100);
}, 60_000);

afterAll(async () => {
  await s?.stop();
}, 30_000);

// ---- the state a denied call must not touch ---------------------------------------------------

async function snapshot() {
  const entries = s.cache.deps.index.list({ limit: 10_000 }).map((e) => ({ id: e.id, org: e.org, state: e.state, size: e.size, lastUsedAt: e.lastUsedAt }));
  const lines: Record<string, unknown> = {};
  for (const org of ORGS) lines[org] = (await api("logs", `/v1/jobs/${targets[org].job}/logs`)).body.lines;
  const jobs = (await api("control", "/api/jobs?limit=10000")).body.jobs.map((j: { id: string; state: string; updatedAt: string }) => [j.id, j.state, j.updatedAt]);
  return { streams: await s.streams(), entries, lines, jobs, registry: await registryFiles({ dir: s.registryDir }) };
}

// ---- the route tables ------------------------------------------------------------------------

function routeTable(): string[] {
  const { ctx } = s.control;
  const control = controlApp(ctx).routes.map((r) => `control ${r.method} ${r.path}`);
  // The log app's routes do not depend on its store: a stand-in is enough to read the table.
  const logs = logApp({ store: {} as never, auth: ctx.auth, maxBodyBytes: 1024, log: ctx.log, jobOrg: async () => null, jobMeta: async () => NO_META, metrics: logMetrics(), bindHost: "0.0.0.0" }).routes.map((r) => `logs ${r.method} ${r.path}`);
  const cache = cacheApp(s.cache.deps, { auth: ctx.auth, metrics: true, bindHost: "0.0.0.0" }).routes.map((r) => `cache ${r.method} ${r.path}`);
  const regAuth = registryAuthDeps(ctx.auth, { externalUrl: "", publicOrgs: [], tokenTtlSeconds: 300 });
  const ops = { admin: { auth: ctx.auth, publicOrgs: new Set<string>(), log: ctx.log }, metrics: s.registry.metrics, serveMetrics: true, bindHost: "0.0.0.0" };
  const registry = registryApp(s.registry.deps, regAuth, ops).routes.map((r) => `registry ${r.method} ${r.path}`);
  // The distribution API is one catch-all there: its shapes are the router's (checked below).
  const distribution = Object.keys(DISTRIBUTION_KINDS).flatMap((path) => Object.keys(RULES).filter((r) => r.startsWith("registry ") && r.endsWith(` ${path}`)));
  if (!REGISTRY_CATCH_ALL.every((r) => registry.includes(r))) throw new Error("the registry's /v2 catch-all moved: read its routes another way");
  return [...control, ...logs, ...cache, ...registry.filter((r) => !REGISTRY_CATCH_ALL.includes(r)), ...distribution];
}

describe("the route tables", () => {
  test("every route of every service has a rule, and every rule a route", () => {
    const routes = routeTable();
    expect(new Set(routes).size).toBe(routes.length);
    const unruled = routes.filter((r) => !(r in RULES));
    const gone = Object.keys(RULES).filter((r) => !routes.includes(r));
    expect({ unruled, gone }).toEqual({ unruled: [], gone: [] });
    expect(routes.length).toBeGreaterThan(80);
  });

  test("the registry's distribution rules are every shape its router knows, each parsing to its kind", () => {
    const sample = (path: string) => path.replace(":repo", "acme/app").replace(":tag", "v1").replace(":digest", sha("x")).replace(":upload", randomUUID());
    const kinds: Record<string, string | undefined> = Object.fromEntries(Object.keys(DISTRIBUTION_KINDS).map((p) => [p, registryRoute(sample(p))?.kind]));
    expect(kinds).toEqual(DISTRIBUTION_KINDS);
    expect(new Set(Object.values(DISTRIBUTION_KINDS))).toEqual(new Set(["base", "tags", "manifest", "blob", "uploads", "upload", "referrers"]));
    const v2 = Object.keys(RULES).filter((r) => r.startsWith("registry ") && r.split(" ")[2]!.startsWith("/v2/") && !r.endsWith("/v2/token"));
    expect(v2.filter((r) => !(r.split(" ")[2]! in DISTRIBUTION_KINDS))).toEqual([]);
  });
});

describe("the matrix", () => {
  test("every denied call is 401/403/404 as fits, and changes nothing", async () => {
    const before = await snapshot();
    const calls: (() => Promise<{ c: Call; want: number[] }>)[] = [];
    for (const route of Object.keys(RULES)) {
      for (const who of principals) {
        const orgs: OrgName[] = who.org ? [who.org, other(who.org)] : ["acme"];
        for (const org of orgs) {
          const want = expected(RULES[route]!, who, org);
          if (!want.denied || want.statuses.length === 0) continue;
          calls.push(async () => ({ c: await call(route, who, targets[org]), want: want.statuses }));
        }
      }
    }
    const results = await batched(calls);
    const wrong = results.filter(({ c, want }) => !want.includes(c.status)).map(({ c, want }) => `${c.route} as ${c.who} on ${c.target}: ${c.status}, want ${want.join("|")}`);
    expect(wrong).toEqual([]);
    expect(results.length).toBeGreaterThan(1000);
    // The one thing a denied call adds: the audit trail records refused mints and revocations (who
    // tried, and the code they got). Every record it gained is a refusal; nothing else changed.
    const after = await snapshot();
    const audit = (x: typeof before) => (x.streams as Record<string, { last: number }>)[AUDIT_STREAM]!.last;
    const added: AuditRecord[] = [];
    for await (const r of readAudit(s.control.ctx.topology.js)) added.push(r);
    const refusals = added.slice(audit(before));
    expect(refusals.length).toBe(audit(after) - audit(before));
    expect(refusals.filter((r) => r.outcome === "ok")).toEqual([]);
    const withoutAudit = (x: typeof before) => ({ ...x, streams: Object.fromEntries(Object.entries(x.streams).filter(([k]) => k !== AUDIT_STREAM)) });
    expect(withoutAudit(after)).toEqual(withoutAudit(before));
  }, 60_000);

  test("a runtime token of one org finds nothing of the other's by key", async () => {
    const before = await snapshot();
    const lookup = await call("cache GET /_apis/artifactcache/cache", principals.find((p) => p.name === "globex/runtime")!, targets.acme);
    // Both orgs hold "matrix-key": the answer is globex's own entry, never acme's.
    expect(lookup.status).toBe(200);
    const list = await fetch(`${s.cacheUrl}/_apis/artifactcache/caches?key=matrix-key`, { headers: { authorization: `Bearer ${runtime.globex}` } });
    expect(((await list.json()) as { totalCount: number }).totalCount).toBe(1);
    const found = await fetch(`${s.cacheUrl}/_apis/artifactcache/cache?keys=matrix-key&version=v1`, { headers: { authorization: `Bearer ${runtime.globex}` } });
    const location = ((await found.json()) as { archiveLocation: string }).archiveLocation;
    expect(location).toContain(`/e/${targets.globex.entry}?`);
    expect((await snapshot()).entries.map((e) => e.id)).toEqual(before.entries.map((e) => e.id));
  });

  test("webhooks: a missing or wrong signature is 401 and creates nothing; a signed delivery is accepted", async () => {
    const before = await snapshot();
    const body = JSON.stringify({ zen: "x", hook_id: 1 });
    const deliver = (signature?: string) =>
      fetch(`${s.controlUrl}/webhooks/github`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "ping", "x-github-delivery": randomUUID(), ...(signature ? { "x-hub-signature-256": signature } : {}) },
        body,
      }).then((r) => r.status);
    const wrong = await new Webhooks({ secret: "not-the-webhook-secret-0123456789" }).sign(body);
    expect([await deliver(), await deliver(wrong), await deliver("sha256=" + "0".repeat(64))]).toEqual([401, 401, 401]);
    expect(await snapshot()).toEqual(before);
    expect(await deliver(await new Webhooks({ secret: WEBHOOK_SECRET }).sign(body))).toBe(200);
  });

  test("the log service takes a batch only with the attempt's credential, from the agent it was handed to", async () => {
    const other = await token("agent-other", "agent");
    const before = await snapshot();
    const post = (bearer: string, credential: string) =>
      fetch(`${s.logsUrl}/v1/logs`, {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}`, [LOG_CREDENTIAL_HEADER]: credential, "content-type": "application/json" },
        body: JSON.stringify({ jobId: targets.acme.job, attempt: 1, lines: [{ n: 50, ts: 1, stream: "out", text: "forged" }] }),
      }).then((r) => r.status);
    // Another agent with acme's credential; the right agent with globex's credential for acme's job; an operator.
    expect([await post(other, logCredential.acme), await post(agentToken, logCredential.globex), await post(operatorToken, logCredential.acme)]).toEqual([403, 403, 403]);
    expect(await snapshot()).toEqual(before);
  });

  test("every allowed call is answered (none of 401/403/404)", async () => {
    const calls: (() => Promise<Call>)[] = [];
    for (const route of Object.keys(RULES)) {
      const rule = RULES[route]!;
      for (const who of principals) {
        const org = who.org ?? "acme";
        if (expected(rule, who, org).denied) continue;
        calls.push(async () => {
          const t = rule.fresh
            ? { ...targets[org], entry: await cacheEntry(org, `fresh-${randomUUID()}`, false) }
            : rule.refresh
              ? { ...targets[org], ...(await rule.refresh(org)) }
              : targets[org];
          return call(route, who, t);
        });
      }
    }
    const results = await batched(calls, 8);
    const ingest = { route: "logs POST /v1/logs", who: "agent", target: "acme" as OrgName, status: await shipLines("acme", targets.acme.job, 2, ["line 2 of acme"]) };
    const wrong = [...results, ingest].filter((c) => [401, 403, 404].includes(c.status) || c.status >= 500).map((c) => `${c.route} as ${c.who} on ${c.target}: ${c.status}`);
    expect(wrong).toEqual([]);
    // Every route is tried by someone allowed, except the signed blob URLs and GitHub's deliveries (tried above / in test/cache).
    const tried = new Set([...results, ingest].map((c) => c.route));
    const untried = Object.keys(RULES).filter((r) => !tried.has(r) && !["signed", "webhook", "forge-webhook", "enroll"].includes(RULES[r]!.auth));
    expect(untried).toEqual([]);
  }, 60_000);
});
