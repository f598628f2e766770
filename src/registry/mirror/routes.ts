/**
 * The distribution API on the mirror's names (`mirror/UPSTREAM/...`, and `library/...` for the
 * registry-mirrors endpoint): pull only. The access check comes first, on the name as the client
 * sent it (its token's scope names that); push, delete and uploads are DENIED whoever asks.
 */
import type { RegistryAction } from "../access.ts";
import type { RegistryDeps } from "../deps.ts";
import { fail, RegistryError } from "../errors.ts";
import { json, reply } from "../http/respond.ts";
import type { Route } from "../http/router.ts";
import { listReferrers, listTags, nextTagsLink, pageTags, parseNextTagsLink } from "../listing.ts";
import { parseDigest, parseReference } from "../names.ts";
import { mirrorBlob } from "./blobs.ts";
import { readBytes } from "./client.ts";
import { mirrorManifest } from "./manifests.ts";
import { mirrorTarget, scopeOf, type Mirror, type MirrorTarget } from "./mirror.ts";

const MAX_TAGS_BYTES = 1024 * 1024;

export interface Call {
  request: Request;
  url: URL;
  method: string;
}

function readOnly(name: string): RegistryError {
  return new RegistryError("DENIED", 403, `${name} is a read-only mirror of an upstream registry: push and delete are refused`);
}

function actionsOf(method: string, kind: Route["kind"]): RegistryAction[] {
  if (method === "DELETE") return ["delete"];
  if (kind === "uploads" || kind === "upload" || method === "PUT" || method === "POST" || method === "PATCH") return ["pull", "push"];
  return ["pull"];
}

async function manifest(d: RegistryDeps, m: Mirror, t: MirrorTarget, c: Call, ref: string): Promise<Response> {
  const mf = await mirrorManifest(d, m, t, parseReference(ref), c.request.headers.get("accept"));
  const headers = { "content-type": mf.mediaType, "docker-content-digest": mf.digest, "content-length": String(mf.size), etag: `"${mf.digest}"` };
  return reply(200, headers, c.method === "HEAD" ? null : mf.body);
}

async function blob(d: RegistryDeps, m: Mirror, t: MirrorTarget, c: Call, ref: string): Promise<Response> {
  const digest = parseDigest(ref);
  const b = await mirrorBlob(d, m, t, digest, c.request.headers.get("range"), c.method as "GET" | "HEAD");
  const headers: Record<string, string> = { "docker-content-digest": digest, "content-type": "application/octet-stream", etag: `"${digest}"` };
  if (b.kind === "stream") {
    if (b.size !== null) headers["content-length"] = String(b.size);
    return reply(200, headers, c.method === "HEAD" ? null : b.body);
  }
  const r = b.read;
  headers["accept-ranges"] = "bytes";
  headers["content-length"] = String(r.range ? r.range.end - r.range.start + 1 : r.size);
  if (r.range) headers["content-range"] = `bytes ${r.range.start}-${r.range.end}/${r.size}`;
  return reply(r.range ? 206 : 200, headers, c.method === "HEAD" ? null : r.body);
}

/** The upstream's tag list; the cached tags when it cannot be asked. */
async function tags(d: RegistryDeps, m: Mirror, t: MirrorTarget, c: Call, name: string): Promise<Response> {
  const n = c.url.searchParams.get("n");
  const last = c.url.searchParams.get("last");
  const q = new URLSearchParams({ ...(n ? { n } : {}), ...(last ? { last } : {}) }).toString();
  try {
    const r = await m.client.request(t.upstream, { method: "GET", path: `/v2/${t.remote}/tags/list${q ? `?${q}` : ""}`, scope: scopeOf(t) });
    if (r.response.status === 200) {
      const doc = JSON.parse(new TextDecoder().decode(await readBytes(r.response, MAX_TAGS_BYTES, t.upstream.name, m.config.timeoutMs, r.abort)));
      const list = Array.isArray(doc?.tags) ? doc.tags.filter((x: unknown) => typeof x === "string") : [];
      // The upstream's next page, as a link to this registry's name for it; an upstream that does not
      // page (distribution 2.x answers every tag, in no order) is paged here.
      const next = parseNextTagsLink(r.response.headers.get("link"));
      if (next) return json(200, { name, tags: list }, { link: nextTagsLink(name, next.n, next.last) });
      const page = pageTags(list, n, last);
      return json(200, { name, tags: page.tags }, page.next ? { link: nextTagsLink(name, n!, page.next) } : {});
    }
    await r.response.body?.cancel().catch(() => {});
    if (r.response.status === 404 || r.response.status === 401) throw fail.nameUnknown(name);
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    // unreachable or unreadable: what is cached
  }
  const page = await listTags(d, t.repo, n, last);
  return json(200, { name, tags: page.tags }, page.next ? { link: nextTagsLink(name, n!, page.next) } : {});
}

/** A request on a mirror name. */
export async function mirrorDispatch(d: RegistryDeps, c: Call, r: Exclude<Route, { kind: "base" }>): Promise<Response> {
  await d.access(c.request, r.name, actionsOf(c.method, r.kind));
  const read = c.method === "GET" || c.method === "HEAD";
  if (!read || r.kind === "uploads" || r.kind === "upload") throw readOnly(r.name);
  const t = mirrorTarget(d.mirror, r.name);
  const m = d.mirror!;
  switch (r.kind) {
    case "manifest":
      return manifest(d, m, t, c, r.ref);
    case "blob":
      return blob(d, m, t, c, r.digest);
    case "tags":
      if (c.method !== "GET") throw fail.unsupported(`${c.method} is not supported on the tags list`, 405);
      return tags(d, m, t, c, r.name);
    case "referrers": {
      if (c.method !== "GET") throw fail.unsupported(`${c.method} is not supported on referrers`, 405);
      const res = await listReferrers(d, t.repo, parseDigest(r.digest), c.url.searchParams.get("artifactType"));
      return json(200, res.index, { "content-type": res.index.mediaType, ...(res.filtered ? { "oci-filters-applied": "artifactType" } : {}) });
    }
  }
}
