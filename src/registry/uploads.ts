/**
 * Blob uploads: a session per POST; PATCH appends (a streamed body without Content-Range, as
 * skopeo sends, or a chunk whose Content-Range must start where the upload stands: 416 otherwise);
 * the closing PUT appends its body and verifies the digest of the whole. A failed request adds
 * nothing; a wrong digest stores nothing and ends the session. Linking a blob holds its digest
 * against the collector (pins.ts) and takes room in the org's quota first (quota/quota.ts): a
 * blob past the quota is refused (403 DENIED), ends the session and is not linked.
 */
import { isBlobError } from "../blobs/errors.ts";
import type { Digest } from "../blobs/digest.ts";
import { repoOrg } from "./auth/scope.ts";
import type { RegistryDeps } from "./deps.ts";
import { fail, RegistryError } from "./errors.ts";

export interface UploadState {
  id: string;
  /** Bytes received so far. */
  offset: number;
}

/** Chunks of one upload are taken one at a time. */
const busy = new Set<string>();

export async function startUpload(d: RegistryDeps, repo: string): Promise<UploadState> {
  const s = await d.sessions.create(repo);
  await d.blobs.createTemp(s.id);
  return { id: s.id, offset: 0 };
}

export async function uploadStatus(d: RegistryDeps, repo: string, id: string): Promise<UploadState> {
  const s = await d.sessions.get(id, repo);
  const offset = s ? await d.blobs.tempSize(id) : null;
  if (offset === null) throw fail.uploadUnknown();
  return { id, offset };
}

/** `Content-Range: <start>-<end>` (inclusive), with or without a `bytes ` prefix and `/total` suffix. */
export function parseContentRange(header: string): { start: number; end: number } {
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m || Number(m[2]) < Number(m[1])) throw new RegistryError("BLOB_UPLOAD_INVALID", 416, `invalid Content-Range ${header}`);
  return { start: Number(m[1]), end: Number(m[2]) };
}

function declaredLength(h: string | null): number | undefined {
  if (h === null || h === "") return undefined;
  if (!/^\d+$/.test(h)) throw new RegistryError("SIZE_INVALID", 400, "invalid Content-Length");
  return Number(h);
}

export interface ChunkInput {
  body: ReadableStream<Uint8Array> | null;
  contentRange: string | null;
  contentLength: string | null;
}

export async function appendChunk(d: RegistryDeps, repo: string, id: string, c: ChunkInput): Promise<UploadState> {
  const st = await uploadStatus(d, repo, id);
  if (busy.has(id)) throw new RegistryError("BLOB_UPLOAD_INVALID", 416, "another chunk of this upload is in progress", undefined, rangeHeader(st.offset));
  busy.add(id);
  try {
    let expect = declaredLength(c.contentLength);
    if (c.contentRange) {
      const r = parseContentRange(c.contentRange);
      if (r.start !== st.offset)
        throw new RegistryError("BLOB_UPLOAD_INVALID", 416, `chunk starts at ${r.start}; the upload is at ${st.offset}`, undefined, rangeHeader(st.offset));
      const len = r.end - r.start + 1;
      if (expect !== undefined && expect !== len) throw new RegistryError("SIZE_INVALID", 400, `Content-Length ${expect} does not match Content-Range ${c.contentRange}`);
      expect = len;
    }
    const offset = await d.blobs.append(id, c.body, { maxBytes: d.limits.maxBlobBytes, expectBytes: expect });
    return { id, offset };
  } finally {
    busy.delete(id);
  }
}

/** The closing PUT: its body (if any) is the last chunk; then the digest is checked and the blob linked. */
export async function finishUpload(d: RegistryDeps, repo: string, id: string, digest: Digest, c: ChunkInput): Promise<{ digest: Digest; size: number }> {
  const hasBody = c.contentRange !== null || (c.contentLength !== null && c.contentLength !== "0") || (c.contentLength === null && c.body !== null);
  const { offset } = hasBody ? await appendChunk(d, repo, id, c) : await uploadStatus(d, repo, id);
  const org = repoOrg(repo);
  const unpin = await d.pins.hold([digest]);
  let unreserve = () => {};
  try {
    unreserve = await d.quota.reserve(org, digest, offset);
    const stored = await d.blobs.commit(id, digest);
    await d.repos.linkBlob(repo, stored.digest, stored.size);
    d.quota.linked(org);
    return stored;
  } finally {
    unreserve();
    unpin();
    await d.sessions.remove(id);
    await d.blobs.discard(id);
  }
}

export async function cancelUpload(d: RegistryDeps, repo: string, id: string): Promise<void> {
  await uploadStatus(d, repo, id);
  await d.sessions.remove(id);
  await d.blobs.discard(id);
}

/** `POST ?digest=`: the whole blob in one request. */
export async function monolithicUpload(d: RegistryDeps, repo: string, digest: Digest, c: ChunkInput): Promise<{ digest: Digest; size: number }> {
  const org = repoOrg(repo);
  const declared = declaredLength(c.contentLength);
  const unpin = await d.pins.hold([digest]);
  const held: (() => void)[] = [unpin];
  try {
    // A declared length is reserved before the body is read; an undeclared one is cut at the org's headroom.
    if (declared !== undefined) held.push(await d.quota.reserve(org, digest, declared));
    const room = declared !== undefined || d.quota.holds(org, digest) ? Infinity : d.quota.headroom(org);
    const stored = await d.blobs.putStream(c.body, { maxBytes: Math.min(d.limits.maxBlobBytes, room), expectBytes: declared, expected: digest }).catch((e) => {
      throw isBlobError(e, "too_large") && room < d.limits.maxBlobBytes ? d.quota.exceeded(org, room, undefined, true) : e;
    });
    if (declared === undefined) held.push(await d.quota.reserve(org, digest, stored.size));
    await d.repos.linkBlob(repo, stored.digest, stored.size);
    d.quota.linked(org);
    return stored;
  } finally {
    for (const release of held) release();
  }
}

export function rangeHeader(offset: number): Record<string, string> {
  return { range: `0-${Math.max(0, offset - 1)}` };
}
