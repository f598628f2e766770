/**
 * What the registry holds, for operations (`nimbus registry ls|usage|rm`): the repositories of an
 * organisation (or all), a repository's tags with digest, size and push time, usage per
 * organisation, and removing a repository or a tag. It reads the metadata layout of repos.ts
 * (`<root>/<org>/<name…>/_layers|_manifests|_tags`); a repository is a folder that holds one of those.
 * Names reach here only after the grammar (names.ts).
 */
import { readdir, readFile, rmdir } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import type { Digest } from "../blobs/digest.ts";
import type { RegistryDeps } from "./deps.ts";
import { fail } from "./errors.ts";
import type { ManifestRecord } from "./repos.ts";
import type { RegistryRepo } from "../protocol/registry-admin.ts";

const META = new Set(["_layers", "_manifests", "_tags"]);
/** Deeper than any name of 255 characters can go (two per component at least). */
const MAX_DEPTH = 128;

/** A repository's summary: the admin API's `RegistryRepo`, with its last push (ms since epoch) not yet an ISO time. */
export type RepoSummary = Omit<RegistryRepo, "lastPush"> & { lastPush: number | null };

export interface TagInfo {
  tag: string;
  digest: Digest;
  mediaType: string | null;
  /** The manifest and the blobs it names (one level of an index's children), as linked here. */
  size: number;
  pushedAt: number | null;
}

export interface OrgUsage {
  org: string;
  repositories: number;
  /** Distinct digests linked anywhere in the org, and their bytes (a layer shared by two repositories counts once). */
  blobs: number;
  bytes: number;
}

async function dirs(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

async function readJson<T>(path: string): Promise<T | null> {
  const text = await readFile(path, "utf8").catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

/** Repository names under `org` (every org when null), sorted. */
export async function repositories(d: RegistryDeps, org: string | null): Promise<string[]> {
  const root = d.repos.root;
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const subs = await dirs(dir);
    if (depth > 1 && subs.some((s) => META.has(s))) out.push(relative(root, dir).split(sep).join("/"));
    if (depth >= MAX_DEPTH) return;
    for (const s of subs) if (!s.startsWith("_") && !s.startsWith(".")) await walk(join(dir, s), depth + 1);
  };
  const orgs = org === null ? await dirs(root) : [org];
  for (const o of orgs) await walk(join(root, o), 1);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The repository's links: digest → size, layers and manifests together. */
async function links(d: RegistryDeps, repo: string): Promise<{ sizes: Map<Digest, number>; manifests: ManifestRecord[] }> {
  const sizes = new Map<Digest, number>();
  const dir = join(d.repos.root, ...repo.split("/"), "_layers");
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    if (!n.endsWith(".json")) continue;
    const link = await readJson<{ size: number }>(join(dir, n));
    if (link) sizes.set(`sha256:${n.slice(0, -5)}` as Digest, link.size);
  }
  const manifests = await d.repos.manifests(repo);
  for (const m of manifests) sizes.set(m.digest, m.size);
  return { sizes, manifests };
}

async function tagRecords(d: RegistryDeps, repo: string): Promise<{ tag: string; digest: Digest; taggedAt: number | null }[]> {
  const out = [];
  for (const tag of await d.repos.tags(repo)) {
    const t = await readJson<{ digest: Digest; taggedAt?: number }>(join(d.repos.root, ...repo.split("/"), "_tags", tag));
    if (t) out.push({ tag, digest: t.digest, taggedAt: t.taggedAt ?? null });
  }
  return out;
}

export async function summarize(d: RegistryDeps, repo: string): Promise<RepoSummary> {
  const { sizes, manifests } = await links(d, repo);
  const tags = await tagRecords(d, repo);
  const times = [...manifests.map((m) => m.linkedAt), ...tags.map((t) => t.taggedAt ?? 0)].filter((t) => t > 0);
  let bytes = 0;
  for (const s of sizes.values()) bytes += s;
  return { name: repo, org: repo.split("/")[0]!, tags: tags.length, manifests: manifests.length, blobs: sizes.size, bytes, lastPush: times.length ? Math.max(...times) : null };
}

/** The digests a stored manifest names (its blobs, or an index's manifests), read from its bytes. */
async function referenced(d: RegistryDeps, digest: Digest): Promise<{ blobs: Digest[]; manifests: Digest[] }> {
  const bytes = await d.blobs.bytes(digest);
  if (!bytes) return { blobs: [], manifests: [] };
  try {
    const m = JSON.parse(new TextDecoder().decode(bytes)) as { config?: { digest?: string }; layers?: { digest?: string }[]; manifests?: { digest?: string }[] };
    const ds = (xs: ({ digest?: string } | undefined)[] | undefined) => (xs ?? []).map((x) => x?.digest).filter((x): x is Digest => typeof x === "string");
    return { blobs: ds([m.config, ...(m.layers ?? [])]), manifests: ds(m.manifests) };
  } catch {
    return { blobs: [], manifests: [] };
  }
}

async function imageSize(d: RegistryDeps, sizes: Map<Digest, number>, digest: Digest, depth = 0): Promise<number> {
  let n = sizes.get(digest) ?? 0;
  const refs = await referenced(d, digest);
  for (const b of new Set(refs.blobs)) n += sizes.get(b) ?? 0;
  if (depth === 0) for (const m of new Set(refs.manifests)) n += await imageSize(d, sizes, m, 1);
  return n;
}

/** The repository's tags, lexical, each with its manifest's digest, media type, size and push time. */
export async function tagsOf(d: RegistryDeps, repo: string): Promise<TagInfo[]> {
  if (!(await d.repos.exists(repo))) throw fail.nameUnknown(repo);
  const { sizes, manifests } = await links(d, repo);
  const types = new Map(manifests.map((m) => [m.digest, m.mediaType]));
  const out: TagInfo[] = [];
  for (const t of await tagRecords(d, repo))
    out.push({ tag: t.tag, digest: t.digest, mediaType: types.get(t.digest) ?? null, size: await imageSize(d, sizes, t.digest), pushedAt: t.taggedAt });
  return out;
}

/** Usage of each org that holds a repository (or of `org` alone, zeros when it holds none). */
export async function usage(d: RegistryDeps, org: string | null): Promise<OrgUsage[]> {
  const by = new Map<string, { repositories: number; sizes: Map<Digest, number> }>();
  if (org !== null) by.set(org, { repositories: 0, sizes: new Map() });
  for (const repo of await repositories(d, org)) {
    const o = repo.split("/")[0]!;
    const u = by.get(o) ?? { repositories: 0, sizes: new Map<Digest, number>() };
    by.set(o, u);
    u.repositories++;
    for (const [digest, size] of (await links(d, repo)).sizes) u.sizes.set(digest, size);
  }
  return [...by.entries()]
    .map(([o, u]) => ({ org: o, repositories: u.repositories, blobs: u.sizes.size, bytes: [...u.sizes.values()].reduce((a, b) => a + b, 0) }))
    .sort((a, b) => (a.org < b.org ? -1 : 1));
}

/** Remove empty folders from `dir` up to (not including) the store's root. */
async function pruneEmpty(root: string, dir: string): Promise<void> {
  for (let p = dir; p !== root && p.startsWith(root + sep); p = dirname(p)) {
    const ok = await rmdir(p).then(() => true, () => false);
    if (!ok) return;
  }
}

export interface Removed {
  repo: string;
  tags: string[];
  manifests: number;
  blobs: number;
}

/**
 * Remove a repository: its tags first (so nothing pulls by tag meanwhile), then its manifests and
 * blob links. Blob bytes stay in the store for other links until garbage collection. A repository
 * nested under this one (`acme/app/sub` under `acme/app`) is its own and stays.
 */
export async function removeRepository(d: RegistryDeps, repo: string): Promise<Removed> {
  if (!(await d.repos.exists(repo)) || !(await repositories(d, repo.split("/")[0]!)).includes(repo)) throw fail.nameUnknown(repo);
  const tags = await d.repos.tags(repo);
  for (const t of tags) await d.repos.deleteTag(repo, t);
  const { sizes, manifests } = await links(d, repo);
  for (const m of manifests) await d.repos.deleteManifest(repo, m.digest);
  let blobs = 0;
  for (const digest of sizes.keys()) if (await d.repos.unlinkBlob(repo, digest)) blobs++;
  const dir = join(d.repos.root, ...repo.split("/"));
  for (const kind of META) await rmdir(join(dir, kind)).catch(() => {});
  await pruneEmpty(d.repos.root, dir);
  return { repo, tags, manifests: manifests.length, blobs };
}

/** Remove one tag (its manifest stays, reachable by digest). */
export async function removeTag(d: RegistryDeps, repo: string, tag: string): Promise<{ repo: string; tag: string; digest: Digest }> {
  const digest = await d.repos.tag(repo, tag);
  if (!digest || !(await d.repos.deleteTag(repo, tag))) throw fail.manifestUnknown(tag);
  return { repo, tag, digest };
}
