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

/** The Link header of a tags page that has more after it (`last`: the page's last tag). */
export function nextTagsLink(name: string, n: string, last: string): string {
  return `</v2/${name}/tags/list?n=${encodeURIComponent(n)}&last=${encodeURIComponent(last)}>; rel="next"`;
}

/** The `n` and `last` of an upstream's `Link: <…?n=…&last=…>; rel="next"`, when it names both. */
export function parseNextTagsLink(link: string | null): { n: string; last: string } | null {
  const m = link ? /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link) : null;
  if (!m) return null;
  try {
    const q = new URL(m[1]!, "http://upstream.invalid").searchParams;
    const n = q.get("n");
    const last = q.get("last");
    return n && /^\d{1,9}$/.test(n) && last ? { n, last } : null;
  } catch {
    return null;
  }
}

export async function listTags(d: RegistryDeps, repo: string, n: string | null, last: string | null): Promise<TagPage> {
  if (!(await d.repos.exists(repo))) throw fail.nameUnknown(repo);
  return pageTags(await d.repos.tags(repo), n, last);
}

/** One page of `all` in lexical order: the tags after `last`, at most `n` of them (none given: all). */
export function pageTags(all: readonly string[], n: string | null, last: string | null): TagPage {
  let tags = [...all].sort();
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
