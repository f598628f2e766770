/**
 * The environment an Actions cache client reads, for direct jobs and `nimbus cache env`. v1 needs
 * ACTIONS_CACHE_URL with a trailing slash; v2 needs ACTIONS_CACHE_SERVICE_V2 (any non-empty value)
 * and ACTIONS_RESULTS_URL (only its origin is used). GITHUB_SERVER_URL must stay unset or
 * github.com, or clients silently fall back to v1. Shared below the apps: the agent hands it to
 * jobs, `nimbus cache env` prints it.
 */
import { mintRuntimeToken, scopesForRun, type RunScopeInput } from "./cache-token.ts";

export type CacheProtocol = "v1" | "v2";

export interface CacheEnvInput {
  /** Base URL of the cache service as the job reaches it, e.g. http://10.0.0.1:7074 */
  url: string;
  token: string;
  protocol: CacheProtocol;
}

export function cacheEnv(i: CacheEnvInput): Record<string, string> {
  const base = i.url.endsWith("/") ? i.url : `${i.url}/`;
  if (i.protocol === "v1") return { ACTIONS_CACHE_URL: base, ACTIONS_RUNTIME_TOKEN: i.token };
  return { ACTIONS_CACHE_SERVICE_V2: "true", ACTIONS_RESULTS_URL: base, ACTIONS_RUNTIME_TOKEN: i.token };
}

/** Variables that must be absent for `protocol` to be the one a client picks. */
export function cacheEnvUnset(protocol: CacheProtocol): string[] {
  return protocol === "v1" ? ["ACTIONS_CACHE_SERVICE_V2", "GITHUB_SERVER_URL"] : ["GITHUB_SERVER_URL"];
}

export interface MintCacheEnvInput extends RunScopeInput {
  secret: string;
  url: string;
  /** The organisation the entries belong to (default "default"). */
  org?: string;
  repo: string;
  protocol: CacheProtocol;
  ttlSeconds?: number;
  subject?: string;
}

/** Mint a fresh runtime token for a repository and ref, and return the client environment. */
export async function mintCacheEnv(i: MintCacheEnvInput): Promise<Record<string, string>> {
  const token = await mintRuntimeToken(i.secret, { org: i.org, repo: i.repo, scopes: scopesForRun(i), ttlSeconds: i.ttlSeconds ?? 6 * 3600, subject: i.subject });
  return cacheEnv({ url: i.url, token, protocol: i.protocol });
}

/** POSIX shell text for `eval "$(nimbus cache env ...)"`. */
export function formatShellEnv(env: Record<string, string>, unset: string[] = []): string {
  const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  return [...unset.map((k) => `unset ${k}`), ...Object.entries(env).map(([k, v]) => `export ${k}=${quote(v)}`)].join("\n") + "\n";
}
