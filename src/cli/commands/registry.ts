/** `nimbus registry ls|usage|rm`: the registry's admin API (src/registry/http/admin.ts). */
import { AppError } from "../../core/errors.ts";
import { ApiClient } from "../client.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";
import { ago, printListing, table } from "../output.ts";
import { bytes } from "./cache.ts";
import type { RegistryOrgUsage as Usage, RegistryRepo as Repo, RegistryTag as Tag } from "../../protocol/registry-admin.ts";

/**
 * The registry's URL and a client for it: NIMBUS_REGISTRY_URL with NIMBUS_TOKEN needs nothing else
 * (no control plane is asked); otherwise the local stack's (or NIMBUS_URL's) client and its registry.
 */
export async function registryApi(ctx: CliContext): Promise<{ api: ApiClient; url: string }> {
  const direct = ctx.env.NIMBUS_REGISTRY_URL;
  if (direct && ctx.env.NIMBUS_TOKEN) {
    const url = direct.replace(/\/+$/, "");
    return { api: new ApiClient("", "", ctx.env.NIMBUS_TOKEN, undefined, url), url };
  }
  const api = await ctx.client();
  if (!api.registryUrl) throw new AppError("unavailable", "the registry's URL is not known: set NIMBUS_REGISTRY_URL (a local stack records it)");
  return { api, url: api.registryUrl };
}

const when = (iso: string | null) => (iso ? ago(Date.parse(iso)) : "");

/** `ORG/NAME` or `ORG/NAME:TAG` (names hold no colon, so a colon starts the tag). */
export function parseTarget(raw: string): { repo: string; tag?: string } {
  if (raw.includes("@")) throw new AppError("bad_request", `${raw}: name a repository or a tag (ORG/NAME or ORG/NAME:TAG), not a digest`);
  const colon = raw.indexOf(":");
  const repo = colon < 0 ? raw : raw.slice(0, colon);
  const tag = colon < 0 ? undefined : raw.slice(colon + 1);
  if (!repo.includes("/")) throw new AppError("bad_request", `${raw}: a repository is ORG/NAME (its first part is the organisation)`);
  if (tag === "") throw new AppError("bad_request", `${raw}: the tag after ":" is empty`);
  return tag === undefined ? { repo } : { repo, tag };
}

export const registryLs: Command = {
  name: "registry ls",
  summary: "list repositories, or one repository's tags",
  usage: "registry ls [ORG/NAME] [--org ORG] [--limit N] [--json]",
  details: `Without a name: your organisation's repositories (an operator's: every org's, or --org's), with
their tags, bytes linked and last push. With ORG/NAME: its tags, each with its digest, the image's size
(manifest, config and layers) and when it was pushed.`,
  options: { org: { type: "string" }, limit: { type: "string" } },
  positionals: { min: 0, max: 1, name: "ORG/NAME" },
  async run(ctx, v, [name]) {
    const { api, url } = await registryApi(ctx);
    if (name) {
      if (v.org || v.limit) throw new AppError("bad_request", "--org and --limit list repositories; with ORG/NAME the tags are listed");
      const { repo } = parseTarget(name);
      if (name.includes(":")) throw new AppError("bad_request", `${name}: name the repository (ORG/NAME) to list its tags`);
      const r = await api.get<{ repo: string; tags: Tag[] }>(`/v1/registry/tags?repo=${encodeURIComponent(repo)}`, url);
      return printListing(ctx, r.tags, {
        empty: `${repo} has no tags`,
        row: (t) => ({ tag: t.tag, digest: t.digest.slice(0, 19), size: bytes(t.size), pushed: when(t.pushedAt) }),
        columns: ["tag", "digest", "size", "pushed"],
      });
    }
    const q = new URLSearchParams();
    for (const k of ["org", "limit"] as const) if (v[k]) q.set(k, String(v[k]));
    const { repositories } = await api.get<{ repositories: Repo[] }>(`/v1/registry/repositories${q.size ? `?${q}` : ""}`, url);
    return printListing(ctx, repositories, {
      empty: "no repositories",
      row: (r) => ({ repository: r.name, tags: r.tags, manifests: r.manifests, size: bytes(r.bytes), pushed: when(r.lastPush) }),
      columns: ["repository", "tags", "manifests", "size", "pushed"],
    });
  },
};

export const registryUsage: Command = {
  name: "registry usage",
  summary: "bytes, blobs and repositories per organisation, against its quota",
  usage: "registry usage [--org ORG] [--json]",
  details: `Bytes are what the organisation links, each blob once however many of its repositories share it.
The quota is the org's registry limit (nimbus limits set ORG --registry-quota 50G; 0: none); it is shown, not yet enforced.`,
  options: { org: { type: "string" } },
  async run(ctx, v) {
    const { api, url } = await registryApi(ctx);
    const q = v.org ? `?org=${encodeURIComponent(String(v.org))}` : "";
    const r = await api.get<{ usage: Usage[]; totalBytes: number; quotaKnown: boolean }>(`/v1/registry/usage${q}`, url);
    if (ctx.json) return ctx.out(JSON.stringify(r, null, 2)), 0;
    const quota = (u: Usage) => (u.quotaBytes === null ? "unknown" : u.quotaBytes === 0 ? "none" : `${bytes(u.quotaBytes)}${u.overQuota ? " (OVER)" : ""}`);
    if (!r.usage.length) ctx.out("no repositories");
    else ctx.out(table(r.usage.map((u) => ({ org: u.org, repositories: u.repositories, blobs: u.blobs, size: bytes(u.bytes), quota: quota(u) })), ["org", "repositories", "blobs", "size", "quota"]));
    ctx.out(`total: ${bytes(r.totalBytes)}`);
    return 0;
  },
};

export const registryRm: Command = {
  name: "registry rm",
  summary: "delete a repository, or one tag of it",
  usage: "registry rm ORG/NAME[:TAG] [--json]",
  details: `ORG/NAME removes the repository: its tags, manifests and blob links (a repository nested under it,
ORG/NAME/SUB, stays). ORG/NAME:TAG removes the tag only; its manifest stays, reachable by digest. Blob bytes
stay in the store until garbage collection. Needs an org-admin's token (or an operator's); audited.`,
  options: {},
  positionals: { min: 1, max: 1, name: "ORG/NAME[:TAG]" },
  async run(ctx, _v, [target]) {
    const { api, url } = await registryApi(ctx);
    const t = parseTarget(target!);
    const q = new URLSearchParams({ repo: t.repo, ...(t.tag ? { tag: t.tag } : {}) });
    const r = await api.del<{ deleted: { repo: string; tag?: string; digest?: string; tags?: string[]; manifests?: number; blobs?: number; audited: boolean } }>(
      `/v1/registry/${t.tag ? "tags" : "repositories"}?${q}`,
      url,
    );
    if (ctx.json) return ctx.out(JSON.stringify(r)), 0;
    const d = r.deleted;
    ctx.out(t.tag ? `deleted tag ${d.repo}:${d.tag} (it named ${d.digest})` : `deleted ${d.repo}: ${d.tags?.length ?? 0} tag(s), ${d.manifests} manifest(s), ${d.blobs} blob link(s)`);
    if (!d.audited) ctx.err("warning: the deletion was not recorded in the audit trail (see the registry's log)");
    return 0;
  },
};
