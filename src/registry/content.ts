/** Blobs of a repository: read (whole or a range), delete a link, mount from another repository. */
import type { Digest } from "../blobs/digest.ts";
import { parseRange, type ByteRange } from "../blobs/range.ts";
import { repoOrg } from "./auth/scope.ts";
import type { RegistryDeps } from "./deps.ts";
import { fail, RegistryError } from "./errors.ts";

export interface BlobRead {
  size: number;
  range?: ByteRange;
  /** Null when not asked for (HEAD): an S3 store would start a download for nothing. */
  body: Blob | ReadableStream<Uint8Array> | null;
}

/** The repository's blob (or manifest, which is a blob too), with `Range` applied. */
export async function readBlob(d: RegistryDeps, repo: string, digest: Digest, rangeHeader: string | null, withBody = true): Promise<BlobRead> {
  // A client checking a blob before naming it: the collector keeps it a while (src/registry/pins.ts).
  await d.pins.use(digest);
  const linked = (await d.repos.blob(repo, digest, true)) ?? (await d.repos.manifest(repo, digest, true));
  const stored = linked ? await d.blobs.stat(digest) : null;
  if (!stored) throw fail.blobUnknown(digest);
  const r = parseRange(rangeHeader, stored.size);
  if (r.kind === "unsatisfiable")
    throw new RegistryError("RANGE_INVALID", 416, "range not satisfiable", undefined, { "content-range": `bytes */${stored.size}` });
  const range = r.kind === "range" ? r.range : undefined;
  return { size: stored.size, range, body: withBody ? await d.blobs.read(digest, range ?? { start: 0, end: stored.size - 1 }) : null };
}

/** Unlink a blob from the repository; its bytes stay for other links until garbage collection. */
export async function deleteBlob(d: RegistryDeps, repo: string, digest: Digest): Promise<void> {
  if (!(await d.repos.unlinkBlob(repo, digest))) throw fail.blobUnknown(digest);
}

/**
 * Link `digest` from `from` into `repo` when `from` links it; null (the caller falls back to an
 * upload) when it does not. The caller has checked it may pull from `from`.
 */
export async function mountBlob(d: RegistryDeps, repo: string, from: string, digest: Digest): Promise<{ digest: Digest; size: number } | null> {
  const unpin = await d.pins.hold([digest]);
  try {
    const link = await d.repos.blob(from, digest);
    const stored = link ? await d.blobs.stat(digest) : null;
    if (!stored) return null;
    const org = repoOrg(repo);
    const unreserve = await d.quota.reserve(org, digest, stored.size);
    try {
      await d.repos.linkBlob(repo, digest, stored.size);
    } finally {
      unreserve();
    }
    d.quota.linked(org);
    return { digest, size: stored.size };
  } finally {
    unpin();
  }
}
