/**
 * The dashboard's view of the public API: the control plane's /api, with the token the user
 * gave (kept in this tab's sessionStorage only; a `#token=` fragment from `nimbus up` is taken once
 * and removed from the address bar, so it never reaches a server log).
 */
const KEY = "nimbus.token";

export function takeTokenFromUrl(): void {
  const m = /[#&]token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(KEY, decodeURIComponent(m[1]!));
  history.replaceState(null, "", location.pathname + location.search + "#/jobs");
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t: string) => sessionStorage.setItem(KEY, t.trim()),
  clear: () => sessionStorage.removeItem(KEY),
};

/** The organisation an operator chose to look at (this tab only); "" is every org. Others see their own. */
const ORG_KEY = "nimbus.org";
export const orgChoice = {
  get: () => sessionStorage.getItem(ORG_KEY) ?? "",
  set: (org: string) => (org ? sessionStorage.setItem(ORG_KEY, org) : sessionStorage.removeItem(ORG_KEY)),
};

/** `path` with the operator's chosen org as `?org=` (the server filters; a non-operator's token is its org). */
export function inOrg(path: string, org: string): string {
  return org ? `${path}${path.includes("?") ? "&" : "?"}org=${encodeURIComponent(org)}` : path;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token.get() ?? ""}` } });
  const text = await res.text();
  const body = text ? (JSON.parse(text) as T & { message?: string }) : ({} as T & { message?: string });
  if (!res.ok) throw new ApiError(res.status, body.message ?? `${res.status} ${res.statusText}`);
  return body;
}

export type { JobState } from "../../src/jobs/record.ts";
export { STATES, TERMINAL } from "../../src/jobs/record.ts";
export type { JobEvent } from "../../src/jobs/events.ts";
export type { AgentInfo as Agent } from "../../src/agents/registry.ts";
export type { StoredLine as LogLine } from "../../src/protocol/log-batch.ts";
import type { publicJob } from "../../src/jobs/record.ts";
import type { RegistryRepo, RegistryUsage } from "../../src/protocol/registry-admin.ts";

/** GET /api/queue: waiting or in-flight jobs per pool, and jobs by state. */
export interface Queue {
  total: number;
  pools: Record<string, number>;
  jobs: Record<string, number>;
}

/** GET /api/whoami: the signed-in token's subject, role and org (null for an operator). */
export interface Whoami {
  sub: string;
  role: "operator" | "org-admin" | "member" | "viewer";
  org: string | null;
}

/** A job as GET /api/jobs returns it (secrets by name only). */
export type Job = ReturnType<typeof publicJob>;

export type { LedgerEntry as TokenEntry } from "../../src/auth/ledger.ts";
import type { LedgerEntry } from "../../src/auth/ledger.ts";

/** The token ledger (GET /api/tokens): the caller's organisation's tokens, an operator's all (or one org's). */
export const tokensApi = {
  list: (org?: string) => api<{ tokens: LedgerEntry[] }>(`/api/tokens${org ? `?org=${encodeURIComponent(org)}` : ""}`).then((r) => r.tokens),
  /** The token itself is in the answer once and never again. */
  mint: (body: { role: string; name: string; ttl: string; org?: string; service?: boolean }) =>
    api<{ token: string; entry: LedgerEntry }>("/api/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  revoke: (id: string) => api<{ token: LedgerEntry }>(`/api/tokens/${encodeURIComponent(id)}/revoke`, { method: "POST" }).then((r) => r.token),
};

/** GET /api/registry/usage and /api/registry/repositories are the registry's own answers, relayed. */
export type { RegistryRepo, RegistryUsage } from "../../src/protocol/registry-admin.ts";

export const registryApi = {
  usage: (org: string) => api<RegistryUsage>(inOrg("/api/registry/usage", org)),
  repositories: (org: string) => api<{ repositories: RegistryRepo[] }>(inOrg("/api/registry/repositories?limit=200", org)).then((r) => r.repositories),
};
