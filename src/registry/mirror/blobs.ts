/**
 * Mirrored blobs. A blob the mirrored repository links is served from the store (ranges included),
 * whether the upstream is up or not. One it does not link is asked of the upstream: when the store
 * already holds those bytes (pushed elsewhere), a HEAD that the upstream has it is enough to link
 * them; otherwise one GET streams it to every pull that wants it while it is stored (./fetch.ts), and
 * it is linked once its digest is checked. A HEAD of a missing blob is answered from the upstream's
 * HEAD, storing nothing.
 */
import { repoOrg } from "../auth/scope.ts";
import type { Digest } from "../../blobs/digest.ts";
import { readBlob, type BlobRead } from "../content.ts";
import type { RegistryDeps } from "../deps.ts";
import { fail, RegistryError } from "../errors.ts";
import type { UpstreamReply } from "./client.ts";
import { UpstreamError, toRegistry } from "./errors.ts";
import { BlobFetch } from "./fetch.ts";
import { fetchKey, scopeOf, type Mirror, type MirrorTarget } from "./mirror.ts";

export type MirrorBlob =
  | { kind: "stored"; read: BlobRead }
  /** Streamed from an upstream fetch; `size` null when the upstream declared none. */
  | { kind: "stream"; size: number | null; body: ReadableStream<Uint8Array> | null };

async function refusal(t: MirrorTarget, digest: Digest, res: Response): Promise<RegistryError | UpstreamError> {
  await res.body?.cancel().catch(() => {});
  const s = res.status;
  if (s === 404) return fail.blobUnknown(`${digest} (upstream ${t.upstream.name} has no such blob in ${t.remote})`);
  if (s === 401 || s === 403)
    return new RegistryError("NAME_UNKNOWN", 404, `upstream ${t.upstream.name} refused ${t.remote} (${s}): unknown there, or not readable with the mirror's credentials`);
  if (s === 429) return new RegistryError("TOOMANYREQUESTS", 429, `upstream ${t.upstream.name} is rate-limiting the mirror`);
  return new UpstreamError(s >= 500 ? "unreachable" : "bad_gateway", t.upstream.name, `it answered ${s}`);
}

function declaredSize(t: MirrorTarget, res: Response, max: number): number | null {
  const h = res.headers.get("content-length");
  if (h === null) return null;
  if (!/^\d{1,16}$/.test(h)) throw new UpstreamError("bad_gateway", t.upstream.name, "an invalid Content-Length");
  const n = Number(h);
  if (n > max) throw new UpstreamError("bad_gateway", t.upstream.name, `a blob of ${n} bytes, over the limit of ${max}`);
  return n;
}

async function ask(m: Mirror, t: MirrorTarget, digest: Digest, method: "GET" | "HEAD"): Promise<UpstreamReply> {
  return m.client.request(t.upstream, { method, path: `/v2/${t.remote}/blobs/${digest}`, scope: scopeOf(t) });
}

/** GET the blob upstream and start storing it; the answer's head has come when this resolves. */
async function startFetch(d: RegistryDeps, m: Mirror, t: MirrorTarget, digest: Digest): Promise<BlobFetch> {
  const reply = await ask(m, t, digest, "GET");
  if (reply.response.status !== 200) throw await refusal(t, digest, reply.response);
  let size: number | null;
  try {
    size = declaredSize(t, reply.response, d.limits.maxBlobBytes);
  } catch (e) {
    reply.abort();
    throw e;
  }
  const id = d.blobs.newTempId();
  await d.blobs.createTemp(id);
  const up = t.upstream.name;
  const f = new BlobFetch(d.blobs, digest, size, id, reply, {
    upstream: up,
    maxBytes: d.limits.maxBlobBytes,
    idleMs: m.config.timeoutMs,
    link: async (repos, n) => {
      for (const r of repos) await d.repos.linkBlob(r, digest, n);
      d.quota.linked(repoOrg(t.repo)); // past the mirror's budget: the least recently used goes
    },
  });
  f.repos.add(t.repo);
  m.stats.inc(up, "blob_miss");
  void f.done.then((ok) => {
    if (ok) return;
    const e = f.failure();
    m.stats.inc(up, "upstream_error");
    if ((e as { code?: string })?.code === "digest_mismatch") m.stats.inc(up, "digest_mismatch");
    d.log.warn("mirror blob fetch failed; nothing stored", { upstream: up, digest, reason: e instanceof Error ? e.message : "unknown" });
  });
  return f;
}

/** Join the fetch of `digest` in flight (one upstream GET however many pulls want it), or start one. */
async function fetchBlob(d: RegistryDeps, m: Mirror, t: MirrorTarget, digest: Digest): Promise<MirrorBlob> {
  const key = fetchKey(t, digest);
  let pending = m.fetches.get(key);
  if (pending) m.stats.inc(t.upstream.name, "blob_joined");
  else {
    pending = startFetch(d, m, t, digest);
    m.fetches.set(key, pending);
    const forget = () => void (m.fetches.get(key) === pending && m.fetches.delete(key));
    pending.then((f) => f.done.then(forget), forget);
  }
  const f = await pending;
  f.repos.add(t.repo);
  return { kind: "stream", size: f.size, body: f.stream() };
}

export async function mirrorBlob(d: RegistryDeps, m: Mirror, t: MirrorTarget, digest: Digest, range: string | null, method: "GET" | "HEAD"): Promise<MirrorBlob> {
  const up = t.upstream.name;
  try {
    if ((await d.repos.blob(t.repo, digest)) && (await d.blobs.stat(digest))) {
      m.stats.inc(up, "blob_hit");
      return { kind: "stored", read: await readBlob(d, t.repo, digest, range) };
    }
    const stored = await d.blobs.stat(digest);
    if (stored || method === "HEAD") {
      const reply = await ask(m, t, digest, "HEAD");
      if (reply.response.status !== 200) throw await refusal(t, digest, reply.response);
      await reply.response.body?.cancel().catch(() => {});
      if (!stored) return { kind: "stream", size: declaredSize(t, reply.response, d.limits.maxBlobBytes), body: null };
      await d.repos.linkBlob(t.repo, digest, stored.size);
      d.quota.linked(repoOrg(t.repo));
      m.stats.inc(up, "blob_hit");
      return { kind: "stored", read: await readBlob(d, t.repo, digest, range) };
    }
    return await fetchBlob(d, m, t, digest);
  } catch (e) {
    if (!(e instanceof UpstreamError)) throw e;
    m.stats.inc(up, "upstream_error");
    throw toRegistry(e);
  }
}
