/**
 * Registry bytes per organisation: the sum of the sizes of the distinct digests its repositories
 * link (blobs and manifests). A digest linked by two repositories of one org counts once; a digest
 * shared with another org counts for each org (each would need it alone). Kept in memory, built
 * from the metadata at start and moved by every link and unlink (RepoStore observers).
 */
import type { Digest } from "../../blobs/digest.ts";
import { repoOrg } from "../auth/scope.ts";
import type { LinkKind, LinkObserver, RepoStore } from "../repos.ts";

interface Held {
  size: number;
  /** `<kind>:<repo>` of each link naming the digest. */
  holders: Set<string>;
}

interface Org {
  bytes: number;
  digests: Map<Digest, Held>;
}

export class OrgUsage implements LinkObserver {
  private readonly orgs = new Map<string, Org>();

  linked(repo: string, kind: LinkKind, digest: Digest, size: number): void {
    const org = repoOrg(repo);
    const o = this.orgs.get(org) ?? { bytes: 0, digests: new Map() };
    this.orgs.set(org, o);
    const h = o.digests.get(digest);
    if (h) h.holders.add(`${kind}:${repo}`);
    else {
      o.digests.set(digest, { size, holders: new Set([`${kind}:${repo}`]) });
      o.bytes += size;
    }
  }

  unlinked(repo: string, kind: LinkKind, digest: Digest): void {
    const o = this.orgs.get(repoOrg(repo));
    const h = o?.digests.get(digest);
    if (!o || !h) return;
    h.holders.delete(`${kind}:${repo}`);
    if (h.holders.size === 0) {
      o.digests.delete(digest);
      o.bytes -= h.size;
    }
  }

  bytes(org: string): number {
    return this.orgs.get(org)?.bytes ?? 0;
  }

  /** Whether the org already links `digest` (linking it again costs nothing). */
  has(org: string, digest: Digest): boolean {
    return this.orgs.get(org)?.digests.has(digest) ?? false;
  }

  /** Orgs that link anything, with their bytes. */
  all(): { org: string; bytes: number }[] {
    return [...this.orgs].filter(([, o]) => o.digests.size > 0).map(([org, o]) => ({ org, bytes: o.bytes })).sort((a, b) => (a.org < b.org ? -1 : 1));
  }

  /** Count everything the store links now (at start, before the service takes requests). */
  async load(repos: RepoStore): Promise<void> {
    for (const repo of await repos.repositories()) {
      for (const kind of ["blob", "manifest"] as const) for (const l of await repos.links(repo, kind)) this.linked(repo, kind, l.digest, l.size);
    }
  }
}
