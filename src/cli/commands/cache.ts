import { AppError } from "../../core/errors.ts";
import { cacheEnv, cacheEnvUnset, formatShellEnv, type CacheProtocol } from "../../protocol/cache-env.ts";
import type { ApiClient } from "../client.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";
import { ago, printListing, table } from "../output.ts";

interface Entry {
  id: string;
  repo: string;
  scope: string;
  key: string;
  version: string;
  state: string;
  protocol: string;
  size: number;
  createdAt: number;
  lastUsedAt: number;
}

async function cacheApi(ctx: CliContext): Promise<{ api: ApiClient; url: string }> {
  const api = await ctx.client();
  if (!api.cacheUrl) throw new AppError("unavailable", "the cache service's URL is not known: set NIMBUS_CACHE_URL (a local stack records it)");
  return { api, url: api.cacheUrl };
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export const cacheLs: Command = {
  name: "cache ls",
  summary: "list Actions cache entries, newest first",
  usage: "cache ls [--repo OWNER/NAME] [--org ORG] [--key PREFIX] [--limit N] [--json]",
  options: { repo: { type: "string" }, org: { type: "string" }, key: { type: "string" }, limit: { type: "string" } },
  async run(ctx, v) {
    const { api, url } = await cacheApi(ctx);
    const q = new URLSearchParams();
    for (const k of ["repo", "org", "key", "limit"] as const) if (v[k]) q.set(k, String(v[k]));
    const { entries } = await api.get<{ entries: Entry[] }>(`/v1/cache/entries?${q}`, url);
    return printListing(ctx, entries, {
      empty: "no cache entries",
      row: (e) => ({ id: e.id, repo: e.repo, scope: e.scope, key: e.key, size: bytes(e.size), state: e.state, used: ago(e.lastUsedAt) }),
      columns: ["id", "repo", "scope", "key", "size", "state", "used"],
    });
  },
};

export const cacheUsage: Command = {
  name: "cache usage",
  summary: "bytes and entries per repository or organisation",
  usage: "cache usage [--by repo|org] [--name NAME] [--json]",
  options: { by: { type: "string" }, name: { type: "string" } },
  async run(ctx, v) {
    const { api, url } = await cacheApi(ctx);
    const by = String(v.by ?? "repo");
    if (by !== "repo" && by !== "org") throw new AppError("bad_request", "--by must be repo or org");
    const q = new URLSearchParams({ by });
    if (v.name) q.set("name", String(v.name));
    const r = await api.get<{ usage: { name: string; bytes: number; entries: number }[]; totalBytes: number }>(`/v1/cache/usage?${q}`, url);
    if (ctx.json) return ctx.out(JSON.stringify(r, null, 2)), 0;
    ctx.out(table(r.usage.map((u) => ({ [by]: u.name, size: bytes(u.bytes), entries: u.entries })), [by, "size", "entries"]));
    ctx.out(`total: ${bytes(r.totalBytes)}`);
    return 0;
  },
};

export const cacheRm: Command = {
  name: "cache rm",
  summary: "delete a cache entry by id, or a repository's entries (optionally by key prefix)",
  usage: "cache rm ENTRY_ID | cache rm --repo OWNER/NAME [--key PREFIX]   [--json]",
  options: { repo: { type: "string" }, key: { type: "string" } },
  positionals: { min: 0, max: 1, name: "ENTRY_ID" },
  async run(ctx, v, [id]) {
    const { api, url } = await cacheApi(ctx);
    if (!id && !v.repo) throw new AppError("bad_request", "name an entry id, or --repo OWNER/NAME");
    if (id && v.repo) throw new AppError("bad_request", "give an entry id or --repo, not both");
    const q = new URLSearchParams();
    if (v.repo) q.set("repo", String(v.repo));
    if (v.key) q.set("key", String(v.key));
    const r = await api.del<{ deleted: string[] }>(id ? `/v1/cache/entries/${encodeURIComponent(id)}` : `/v1/cache/entries?${q}`, url);
    ctx.out(ctx.json ? JSON.stringify(r) : `deleted ${r.deleted.length} entr${r.deleted.length === 1 ? "y" : "ies"}`);
    return 0;
  },
};

export const cacheEnvCommand: Command = {
  name: "cache env",
  summary: "print the environment that points an Actions cache client at Nimbus",
  usage: "cache env --repo OWNER/NAME --ref REF [--base-ref REF] [--default-ref REF] [--protocol v1|v2] [--ttl SECONDS] [--json]",
  details: `Mints a runtime token for the repository and ref (a pull request's ref reads its base ref and the
default branch too) and prints shell exports:   eval "$(nimbus cache env --repo acme/app --ref refs/heads/main)"`,
  options: {
    repo: { type: "string" },
    ref: { type: "string" },
    "base-ref": { type: "string" },
    "default-ref": { type: "string" },
    protocol: { type: "string" },
    ttl: { type: "string" },
  },
  async run(ctx, v) {
    if (!v.repo || !v.ref) throw new AppError("bad_request", "--repo OWNER/NAME and --ref REF are required");
    const protocol = String(v.protocol ?? "v2") as CacheProtocol;
    if (protocol !== "v1" && protocol !== "v2") throw new AppError("bad_request", "--protocol must be v1 or v2");
    const { api, url } = await cacheApi(ctx);
    const body = { repo: v.repo, ref: v.ref, baseRef: v["base-ref"], defaultRef: v["default-ref"], ...(v.ttl ? { ttlSeconds: Number(v.ttl) } : {}) };
    const { token } = await api.post<{ token: string }>("/v1/cache/tokens", body, url);
    const env = cacheEnv({ url, token, protocol });
    ctx.out(ctx.json ? JSON.stringify({ env, unset: cacheEnvUnset(protocol) }, null, 2) : formatShellEnv(env, cacheEnvUnset(protocol)).trimEnd());
    return 0;
  },
};
