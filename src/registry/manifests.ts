/**
 * Manifests of a repository: PUT stores the bytes exactly as sent (in the blob store, by digest)
 * after checking that every blob and manifest they name is in this repository; GET honours Accept;
 * DELETE by digest removes the manifest and its tags, by tag the tag alone.
 */
import { digestOf, type Digest } from "../blobs/digest.ts";
import { isAppError } from "../core/errors.ts";
import { readBodyBytes } from "../http/common.ts";
import { repoOrg } from "./auth/scope.ts";
import type { RegistryDeps } from "./deps.ts";
import { fail, RegistryError } from "./errors.ts";
import { parseManifest } from "./manifest.ts";
import type { Reference } from "./names.ts";

export interface StoredManifest {
  digest: Digest;
  subject?: Digest;
}

async function readManifestBody(request: Request, max: number): Promise<Uint8Array> {
  try {
    return await readBodyBytes(request, max);
  } catch (e) {
    if (isAppError(e, "payload_too_large")) throw new RegistryError("SIZE_INVALID", 413, `manifest is larger than ${max} bytes (the limit)`, { limit: max });
    throw e;
  }
}

async function checkReferences(d: RegistryDeps, repo: string, blobs: Digest[], manifests: Digest[]): Promise<void> {
  const missing: string[] = [];
  for (const b of new Set(blobs)) if (!(await d.repos.blob(repo, b)) || !(await d.blobs.stat(b))) missing.push(b);
  for (const m of new Set(manifests)) if (!(await d.repos.manifest(repo, m))) missing.push(m);
  if (missing.length)
    throw new RegistryError("MANIFEST_BLOB_UNKNOWN", 400, `manifest references ${missing.length} blob(s) unknown to the repository`, { missing: missing.slice(0, 10) });
}

export async function putManifest(d: RegistryDeps, repo: string, ref: Reference, request: Request): Promise<StoredManifest> {
  const bytes = await readManifestBody(request, d.limits.maxManifestBytes);
  const digest = digestOf(bytes);
  if (ref.kind === "digest" && ref.digest !== digest) throw fail.digestInvalid(`manifest digest is ${digest}, not ${ref.digest}`);
  const m = parseManifest(bytes, request.headers.get("content-type"));
  // Held from before the check until linked: the collector cannot remove what the check saw.
  const unpin = await d.pins.hold([digest, ...m.blobs, ...m.manifests]);
  const org = repoOrg(repo);
  try {
    await checkReferences(d, repo, m.blobs, m.manifests);
    const unreserve = await d.quota.reserve(org, digest, bytes.byteLength);
    try {
      await d.blobs.putBytes(bytes, digest);
      await d.repos.putManifest(repo, { digest, mediaType: m.mediaType, size: bytes.byteLength, subject: m.subject, artifactType: m.artifactType, annotations: m.annotations });
      if (ref.kind === "tag") await d.repos.setTag(repo, ref.tag, digest);
    } finally {
      unreserve();
    }
  } finally {
    unpin();
  }
  d.quota.linked(org);
  return { digest, subject: m.subject };
}

export async function resolveReference(d: RegistryDeps, repo: string, ref: Reference): Promise<Digest> {
  const digest = ref.kind === "digest" ? ref.digest : await d.repos.tag(repo, ref.tag);
  if (!digest) throw fail.manifestUnknown(ref.kind === "tag" ? ref.tag : "");
  return digest;
}

/** Whether an Accept header admits `mediaType` (no header, `*\/*` or `application/*` admit everything). */
export function accepts(accept: string | null, mediaType: string): boolean {
  if (!accept || !accept.trim()) return true;
  const types = accept.split(",").map((t) => t.split(";")[0]!.trim().toLowerCase());
  return types.some((t) => t === mediaType || t === "*/*" || t === "application/*" || t === "");
}

export interface ManifestRead {
  digest: Digest;
  mediaType: string;
  size: number;
  /** Null when not asked for (HEAD). */
  body: Blob | ReadableStream<Uint8Array> | null;
}

export async function getManifest(d: RegistryDeps, repo: string, ref: Reference, accept: string | null, withBody = true): Promise<ManifestRead> {
  const digest = await resolveReference(d, repo, ref);
  await d.pins.use(digest);
  const rec = await d.repos.manifest(repo, digest, true);
  const stored = rec ? await d.blobs.stat(digest) : null;
  if (!rec || !stored) throw fail.manifestUnknown(ref.kind === "tag" ? ref.tag : digest);
  if (!accepts(accept, rec.mediaType)) throw fail.manifestUnknown(`${ref.kind === "tag" ? ref.tag : digest} in a media type the client accepts (it is ${rec.mediaType})`);
  return { digest, mediaType: rec.mediaType, size: stored.size, body: withBody ? await d.blobs.read(digest, { start: 0, end: stored.size - 1 }) : null };
}

export async function deleteManifest(d: RegistryDeps, repo: string, ref: Reference): Promise<void> {
  const ok = ref.kind === "tag" ? await d.repos.deleteTag(repo, ref.tag) : await d.repos.deleteManifest(repo, ref.digest);
  if (!ok) throw fail.manifestUnknown(ref.kind === "tag" ? ref.tag : ref.digest);
}
