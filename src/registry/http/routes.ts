/**
 * The distribution API over the registry's core: each route checks the caller through the access
 * seam first (a body is not read before), then calls one core function and shapes its answer.
 */
import type { RegistryAction } from "../access.ts";
import { mountBlob, deleteBlob, readBlob } from "../content.ts";
import type { RegistryDeps } from "../deps.ts";
import { fail } from "../errors.ts";
import { listReferrers, listTags, nextTagsLink } from "../listing.ts";
import { deleteManifest, getManifest, putManifest } from "../manifests.ts";
import { parseDigest, parseName, parseReference } from "../names.ts";
import { appendChunk, cancelUpload, finishUpload, monolithicUpload, rangeHeader, startUpload, uploadStatus, type ChunkInput } from "../uploads.ts";
import { json, reply } from "./respond.ts";
import type { Route } from "./router.ts";

export interface Call {
  request: Request;
  url: URL;
  method: string;
}

const chunk = (r: Request): ChunkInput => ({ body: r.body, contentRange: r.headers.get("content-range"), contentLength: r.headers.get("content-length") });
const uploadUrl = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;
const blobUrl = (name: string, digest: string) => `/v2/${name}/blobs/${digest}`;

async function allow(d: RegistryDeps, c: Call, name: string, actions: RegistryAction[]): Promise<string> {
  parseName(name);
  await d.access(c.request, name, actions);
  return name;
}

async function blob(d: RegistryDeps, c: Call, r: Extract<Route, { kind: "blob" }>): Promise<Response> {
  if (c.method === "DELETE") {
    await allow(d, c, r.name, ["delete"]);
    await deleteBlob(d, r.name, parseDigest(r.digest));
    return reply(202, { "content-length": "0" });
  }
  if (c.method !== "GET" && c.method !== "HEAD") throw fail.unsupported(`${c.method} is not supported on blobs`, 405);
  await allow(d, c, r.name, ["pull"]);
  const digest = parseDigest(r.digest);
  const b = await readBlob(d, r.name, digest, c.request.headers.get("range"), c.method !== "HEAD");
  const headers: Record<string, string> = {
    "docker-content-digest": digest, "content-type": "application/octet-stream", "accept-ranges": "bytes",
    "content-length": String(b.range ? b.range.end - b.range.start + 1 : b.size), etag: `"${digest}"`,
  };
  if (b.range) headers["content-range"] = `bytes ${b.range.start}-${b.range.end}/${b.size}`;
  return reply(b.range ? 206 : 200, headers, b.body);
}

async function mountOrStart(d: RegistryDeps, c: Call, name: string, mount: string): Promise<Response> {
  const digest = parseDigest(mount);
  const from = c.url.searchParams.get("from");
  if (from) {
    parseName(from);
    // Only a repository the caller may pull from is a source; anything else falls back to an upload,
    // without saying whether the blob is there.
    const mayPull = await d.access(c.request, from, ["pull"]).then(() => true, () => false);
    const mounted = mayPull ? await mountBlob(d, name, from, digest) : null;
    if (mounted) return reply(201, { location: blobUrl(name, digest), "docker-content-digest": digest, "content-length": "0" });
  }
  const up = await startUpload(d, name);
  return reply(202, { location: uploadUrl(name, up.id), "docker-upload-uuid": up.id, ...rangeHeader(0), "content-length": "0" });
}

async function uploads(d: RegistryDeps, c: Call, r: Extract<Route, { kind: "uploads" }>): Promise<Response> {
  if (c.method !== "POST") throw fail.unsupported(`${c.method} is not supported on the uploads collection`, 405);
  await allow(d, c, r.name, ["pull", "push"]);
  const mount = c.url.searchParams.get("mount");
  if (mount) return mountOrStart(d, c, r.name, mount);
  const digest = c.url.searchParams.get("digest");
  if (digest !== null) {
    const stored = await monolithicUpload(d, r.name, parseDigest(digest), chunk(c.request));
    return reply(201, { location: blobUrl(r.name, stored.digest), "docker-content-digest": stored.digest, "content-length": "0" });
  }
  const up = await startUpload(d, r.name);
  return reply(202, { location: uploadUrl(r.name, up.id), "docker-upload-uuid": up.id, ...rangeHeader(0), "content-length": "0" });
}

async function upload(d: RegistryDeps, c: Call, r: Extract<Route, { kind: "upload" }>): Promise<Response> {
  await allow(d, c, r.name, ["pull", "push"]);
  const at = (offset: number) => ({ location: uploadUrl(r.name, r.id), "docker-upload-uuid": r.id, ...rangeHeader(offset), "content-length": "0" });
  switch (c.method) {
    case "GET":
      return reply(204, at((await uploadStatus(d, r.name, r.id)).offset));
    case "PATCH":
      return reply(202, at((await appendChunk(d, r.name, r.id, chunk(c.request))).offset));
    case "PUT": {
      const stored = await finishUpload(d, r.name, r.id, parseDigest(c.url.searchParams.get("digest")), chunk(c.request));
      return reply(201, { location: blobUrl(r.name, stored.digest), "docker-content-digest": stored.digest, "content-length": "0" });
    }
    case "DELETE":
      await cancelUpload(d, r.name, r.id);
      return reply(204);
    default:
      throw fail.unsupported(`${c.method} is not supported on an upload`, 405);
  }
}

async function manifest(d: RegistryDeps, c: Call, r: Extract<Route, { kind: "manifest" }>): Promise<Response> {
  const ref = () => parseReference(r.ref);
  if (c.method === "PUT") {
    await allow(d, c, r.name, ["pull", "push"]);
    const m = await putManifest(d, r.name, ref(), c.request);
    const headers: Record<string, string> = { location: `/v2/${r.name}/manifests/${m.digest}`, "docker-content-digest": m.digest, "content-length": "0" };
    if (m.subject) headers["oci-subject"] = m.subject;
    return reply(201, headers);
  }
  if (c.method === "DELETE") {
    await allow(d, c, r.name, ["delete"]);
    await deleteManifest(d, r.name, ref());
    return reply(202, { "content-length": "0" });
  }
  if (c.method !== "GET" && c.method !== "HEAD") throw fail.unsupported(`${c.method} is not supported on manifests`, 405);
  await allow(d, c, r.name, ["pull"]);
  const m = await getManifest(d, r.name, ref(), c.request.headers.get("accept"), c.method !== "HEAD");
  const headers = { "content-type": m.mediaType, "docker-content-digest": m.digest, "content-length": String(m.size), etag: `"${m.digest}"` };
  return reply(200, headers, m.body);
}

async function tags(d: RegistryDeps, c: Call, name: string): Promise<Response> {
  if (c.method !== "GET") throw fail.unsupported(`${c.method} is not supported on the tags list`, 405);
  await allow(d, c, name, ["pull"]);
  const n = c.url.searchParams.get("n");
  const page = await listTags(d, name, n, c.url.searchParams.get("last"));
  const headers: Record<string, string> = {};
  if (page.next) headers.link = nextTagsLink(name, n!, page.next);
  return json(200, { name, tags: page.tags }, headers);
}

async function referrers(d: RegistryDeps, c: Call, r: Extract<Route, { kind: "referrers" }>): Promise<Response> {
  if (c.method !== "GET") throw fail.unsupported(`${c.method} is not supported on referrers`, 405);
  await allow(d, c, r.name, ["pull"]);
  const res = await listReferrers(d, r.name, parseDigest(r.digest), c.url.searchParams.get("artifactType"));
  return json(200, res.index, { "content-type": res.index.mediaType, ...(res.filtered ? { "oci-filters-applied": "artifactType" } : {}) });
}

export async function dispatch(d: RegistryDeps, c: Call, r: Route): Promise<Response> {
  switch (r.kind) {
    case "base":
      await d.access(c.request, null, []);
      return json(200, {});
    case "blob":
      return blob(d, c, r);
    case "uploads":
      return uploads(d, c, r);
    case "upload":
      return upload(d, c, r);
    case "manifest":
      return manifest(d, c, r);
    case "tags":
      return tags(d, c, r.name);
    case "referrers":
      return referrers(d, c, r);
  }
}
