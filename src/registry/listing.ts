/** Content discovery: tags (lexical, paginated with n/last) and referrers (with an artifactType filter). */
import type { Digest } from "../blobs/digest.ts";
import type { RegistryDeps } from "./deps.ts";
import { fail, RegistryError } from "./errors.ts";
import { MEDIA } from "./manifest.ts";

export interface TagPage {
  tags: string[];
  /** The last tag of this page when more follow (for the Link header). */
  next?: string;
}

export async function listTags(d: RegistryDeps, repo: string, n: string | null, last: string | null): Promise<TagPage> {
  if (!(await d.repos.exists(repo))) throw fail.nameUnknown(repo);
  let tags = await d.repos.tags(repo);
  if (last) tags = tags.filter((t) => t > last);
  if (n === null || n === "") return { tags };
  if (!/^\d{1,9}$/.test(n)) throw new RegistryError("UNSUPPORTED", 400, "n must be a non-negative integer");
  const count = Number(n);
  const page = tags.slice(0, count);
  return page.length < tags.length && page.length > 0 ? { tags: page, next: page[page.length - 1] } : { tags: page };
}

export interface Referrers {
  index: { schemaVersion: 2; mediaType: string; manifests: Record<string, unknown>[] };
  filtered: boolean;
}

/** An image index of the manifests whose subject is `digest`; never 404, an empty list when none. */
export async function listReferrers(d: RegistryDeps, repo: string, digest: Digest, artifactType: string | null): Promise<Referrers> {
  const all = (await d.repos.manifests(repo)).filter((m) => m.subject === digest);
  const chosen = artifactType ? all.filter((m) => m.artifactType === artifactType) : all;
  chosen.sort((a, b) => a.linkedAt - b.linkedAt || (a.digest < b.digest ? -1 : 1));
  const manifests = chosen.map((m) => ({
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.size,
    ...(m.artifactType ? { artifactType: m.artifactType } : {}),
    ...(m.annotations ? { annotations: m.annotations } : {}),
  }));
  return { index: { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests }, filtered: !!artifactType };
}
