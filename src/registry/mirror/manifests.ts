/**
 * Mirrored manifests. By digest: served from the cache once stored, never revalidated. By tag: a tag
 * fetched less than the TTL ago is served from the cache; an older one is revalidated with a HEAD to
 * the upstream (unchanged: its fetch time is renewed; moved: the new manifest is fetched). While the
 * upstream cannot be asked, a cached tag is served however old (stale); a tag never seen is
 * UNAVAILABLE naming the upstream. A fetched manifest must hash to the digest asked for (and to the
 * upstream's Docker-Content-Digest), be at most the manifest limit and parse; it is stored by digest
 * exactly as the upstream sent it, in the media type it declared.
 */
import { repoOrg } from "../auth/scope.ts";
import { digestOf, isDigest, type Digest } from "../../blobs/digest.ts";
import type { RegistryDeps } from "../deps.ts";
import { fail, RegistryError } from "../errors.ts";
import { bareType, MEDIA, parseManifest } from "../manifest.ts";
import { accepts, type ManifestRead } from "../manifests.ts";
import type { Reference } from "../names.ts";
import { readBytes } from "./client.ts";
import { UpstreamError, toRegistry } from "./errors.ts";
import { scopeOf, type Mirror, type MirrorTarget } from "./mirror.ts";

const ALL_TYPES = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(", ");

/** The cached manifest `digest` of the mirrored repository, when stored and acceptable to the client. */
async function cached(d: RegistryDeps, repo: string, digest: Digest, accept: string | null): Promise<ManifestRead | null> {
  const rec = await d.repos.manifest(repo, digest, true);
  const stored = rec ? await d.blobs.stat(digest) : null;
  if (!rec || !stored || !accepts(accept, rec.mediaType)) return null;
  return { digest, mediaType: rec.mediaType, size: stored.size, body: await d.blobs.read(digest) };
}

/** The upstream's Content-Type when it names a manifest type; a generic one defers to the manifest's own mediaType. */
function manifestType(header: string | null): string | null {
  const t = bareType(header);
  return !t || t === "application/json" || t === "application/octet-stream" || t === "text/plain" ? null : t;
}

function refText(ref: Reference): string {
  return ref.kind === "tag" ? ref.tag : ref.digest;
}

/** An upstream answer that is not 200 as the registry's error. */
async function refusal(t: MirrorTarget, ref: Reference, res: Response): Promise<RegistryError | UpstreamError> {
  await res.body?.cancel().catch(() => {});
  const s = res.status;
  if (s === 404) return fail.manifestUnknown(`${refText(ref)} (upstream ${t.upstream.name} has no such manifest of ${t.remote})`);
  if (s === 401 || s === 403)
    return new RegistryError("NAME_UNKNOWN", 404, `upstream ${t.upstream.name} refused ${t.remote} (${s}): unknown there, or not readable with the mirror's credentials`);
  if (s === 429) return new RegistryError("TOOMANYREQUESTS", 429, `upstream ${t.upstream.name} is rate-limiting the mirror`);
  return new UpstreamError(s >= 500 ? "unreachable" : "bad_gateway", t.upstream.name, `it answered ${s}`);
}

/** GET the manifest from the upstream, check it, store it (and the tag). */
async function fetchManifest(d: RegistryDeps, m: Mirror, t: MirrorTarget, ref: Reference, accept: string | null): Promise<ManifestRead> {
  const path = `/v2/${t.remote}/manifests/${refText(ref)}`;
  const reply = await m.client.request(t.upstream, { method: "GET", path, headers: { accept: accept?.trim() ? accept : ALL_TYPES }, scope: scopeOf(t) });
  if (reply.response.status !== 200) throw await refusal(t, ref, reply.response);
  const bytes = await readBytes(reply.response, d.limits.maxManifestBytes, t.upstream.name, m.config.timeoutMs, reply.abort);
  const digest = digestOf(bytes);
  const said = reply.response.headers.get("docker-content-digest");
  const expected = ref.kind === "digest" ? ref.digest : said && isDigest(said) ? said : null;
  if (expected && expected !== digest) {
    m.stats.inc(t.upstream.name, "digest_mismatch");
    throw new UpstreamError("bad_gateway", t.upstream.name, `its manifest ${refText(ref)} hashes to ${digest}, not ${expected}; nothing was stored`);
  }
  let parsed: ReturnType<typeof parseManifest>;
  try {
    parsed = parseManifest(bytes, manifestType(reply.response.headers.get("content-type")));
  } catch (e) {
    throw new UpstreamError("bad_gateway", t.upstream.name, `its manifest ${refText(ref)} is not one the registry serves (${(e as Error).message})`);
  }
  await d.blobs.putBytes(bytes, digest);
  await d.repos.putManifest(t.repo, { digest, mediaType: parsed.mediaType, size: bytes.byteLength, subject: parsed.subject, artifactType: parsed.artifactType, annotations: parsed.annotations });
  if (ref.kind === "tag") await d.repos.setTag(t.repo, ref.tag, digest);
  d.quota.linked(repoOrg(t.repo));
  m.stats.inc(t.upstream.name, "manifest_miss");
  return { digest, mediaType: parsed.mediaType, size: bytes.byteLength, body: await d.blobs.read(digest) };
}

type Revalidation = "unchanged" | "changed" | "gone" | "unreachable";

/** HEAD the tag upstream: does it still name `digest`? */
async function revalidate(m: Mirror, t: MirrorTarget, tag: string, digest: Digest, mediaType: string): Promise<Revalidation> {
  try {
    const reply = await m.client.request(t.upstream, { method: "HEAD", path: `/v2/${t.remote}/manifests/${tag}`, headers: { accept: `${mediaType}, ${ALL_TYPES}` }, scope: scopeOf(t) });
    await reply.response.body?.cancel().catch(() => {});
    const s = reply.response.status;
    if (s === 404) return "gone";
    if (s !== 200) return "unreachable";
    return reply.response.headers.get("docker-content-digest") === digest ? "unchanged" : "changed";
  } catch (e) {
    if (e instanceof UpstreamError) return "unreachable";
    throw e;
  }
}

/** A mirrored manifest for GET or HEAD. */
export async function mirrorManifest(d: RegistryDeps, m: Mirror, t: MirrorTarget, ref: Reference, accept: string | null): Promise<ManifestRead> {
  const up = t.upstream.name;
  try {
    if (ref.kind === "digest") {
      const hit = await cached(d, t.repo, ref.digest, accept);
      if (hit) m.stats.inc(up, "manifest_hit");
      return hit ?? (await fetchManifest(d, m, t, ref, accept));
    }
    const tag = await d.repos.tagRecord(t.repo, ref.tag);
    const hit = tag ? await cached(d, t.repo, tag.digest, accept) : null;
    if (!tag || !hit) return await fetchManifest(d, m, t, ref, accept);
    if (m.now() - tag.taggedAt < m.config.tagTtlMs) {
      m.stats.inc(up, "manifest_hit");
      return hit;
    }
    const v = await revalidate(m, t, ref.tag, tag.digest, hit.mediaType);
    if (v === "unchanged") {
      await d.repos.setTag(t.repo, ref.tag, tag.digest);
      m.stats.inc(up, "manifest_revalidated");
      return hit;
    }
    if (v === "unreachable") {
      m.stats.inc(up, "upstream_error");
      m.stats.inc(up, "manifest_stale");
      return hit;
    }
    if (v === "gone") {
      await d.repos.deleteTag(t.repo, ref.tag);
      return await fetchManifest(d, m, t, ref, accept);
    }
    return await fetchManifest(d, m, t, ref, accept).catch((e) => {
      // Moved upstream, but the new manifest could not be fetched: the cached one still answers.
      if (!(e instanceof UpstreamError) || e.kind !== "unreachable") throw e;
      m.stats.inc(up, "upstream_error");
      m.stats.inc(up, "manifest_stale");
      return hit;
    });
  } catch (e) {
    if (!(e instanceof UpstreamError)) throw e;
    m.stats.inc(up, "upstream_error");
    throw toRegistry(e);
  }
}
