/**
 * The pull-through mirror as the registry's routes see it: its configuration, the upstream client,
 * the fetches in flight, the counters, and which repository a request's name is.
 *
 * Names: `mirror/UPSTREAM/NAME...` is NAME on UPSTREAM; with a default upstream (the registry-mirrors
 * endpoint), `library/NAME` — what a Docker daemon asks its mirror for an official image — is
 * `mirror/DEFAULT/library/NAME`. Both are stored under `mirror/UPSTREAM/...` in the repository store.
 */
import type { Digest } from "../../blobs/digest.ts";
import { fail } from "../errors.ts";
import { MAX_NAME_LENGTH, MIRROR_PREFIX, parseName } from "../names.ts";
import { UpstreamClient, type Fetch } from "./client.ts";
import type { BlobFetch } from "./fetch.ts";
import { MirrorStats } from "./metrics.ts";
import type { MirrorConfig, Upstream } from "./upstreams.ts";

export interface Mirror {
  config: MirrorConfig;
  client: UpstreamClient;
  stats: MirrorStats;
  /** Blob fetches in flight (from the moment the upstream is asked), by `UPSTREAM digest`. */
  fetches: Map<string, Promise<BlobFetch>>;
  now: () => number;
}

export function createMirror(config: MirrorConfig, o: { fetch?: Fetch; now?: () => number } = {}): Mirror {
  const now = o.now ?? Date.now;
  const fetchFn: Fetch = o.fetch ?? ((input, init) => fetch(input, init));
  return { config, client: new UpstreamClient(fetchFn, config.timeoutMs, now), stats: new MirrorStats(), fetches: new Map(), now };
}

export interface MirrorTarget {
  /** Where the mirror keeps it: `mirror/UPSTREAM/NAME`. */
  repo: string;
  upstream: Upstream;
  /** Its name on the upstream. */
  remote: string;
}

/** Whether `name` is the mirror's (`mirror/...`, or `library/...` with a default upstream). */
export function isMirrorName(m: Mirror | undefined, name: string): boolean {
  const first = name.split("/", 1)[0];
  return first === MIRROR_PREFIX || (first === "library" && !!m?.config.defaultUpstream);
}

/** The mirrored repository a name stands for; NAME_UNKNOWN for an upstream that is not configured. */
export function mirrorTarget(m: Mirror | undefined, name: string): MirrorTarget {
  const parsed = parseName(name);
  const upstreamName = parsed.mirror ? parsed.mirror.upstream : m?.config.defaultUpstream;
  const remote = parsed.mirror ? parsed.mirror.remote : name;
  const upstream = upstreamName ? m?.config.upstreams.get(upstreamName) : undefined;
  if (!upstream) throw fail.nameUnknown(name);
  const repo = `${MIRROR_PREFIX}/${upstream.name}/${remote}`;
  if (repo.length > MAX_NAME_LENGTH) throw fail.nameInvalid(`repository name ${MIRROR_PREFIX}/${upstream.name}/… is longer than ${MAX_NAME_LENGTH} characters`);
  return { repo, upstream, remote };
}

export function fetchKey(t: MirrorTarget, digest: Digest): string {
  return `${t.upstream.name} ${digest}`;
}

export function scopeOf(t: MirrorTarget): string {
  return `repository:${t.remote}:pull`;
}
