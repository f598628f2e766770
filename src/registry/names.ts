/**
 * The distribution spec's grammar for repository names, tags and references, plus Nimbus's rule
 * that a name's first component is its organisation — but for the pull-through mirror's namespace,
 * `mirror/UPSTREAM/NAME...` (the org id `mirror` is reserved for it). Pure. Anything that passes here is safe to use
 * as path components: no component can be empty, `.` or `..`, or start with `_` (the metadata
 * folders' prefix).
 */
import { isOrgId } from "../auth/principal.ts";
import { checkDigest, type Digest } from "../blobs/digest.ts";
import { fail } from "./errors.ts";

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export interface RepoName {
  name: string;
  org: string;
  /** Under `mirror/`: the upstream's name and the repository's name there. */
  mirror?: { upstream: string; remote: string };
}

/** The first component of the mirror's namespace. */
export const MIRROR_PREFIX = "mirror";

export function parseName(name: string): RepoName {
  if (name.length > MAX_NAME_LENGTH) throw fail.nameInvalid(`repository name is longer than ${MAX_NAME_LENGTH} characters`);
  if (!NAME.test(name)) throw fail.nameInvalid("invalid repository name");
  const org = name.split("/")[0]!;
  if (org === MIRROR_PREFIX) {
    const [, upstream, ...rest] = name.split("/");
    if (!rest.length) throw fail.nameInvalid("a mirrored repository is mirror/UPSTREAM/NAME");
    return { name, org, mirror: { upstream: upstream!, remote: rest.join("/") } };
  }
  if (!name.includes("/") || !isOrgId(org))
    throw fail.nameInvalid("a repository name is ORG/NAME: its first component is the organisation");
  return { name, org };
}

export function isTag(s: string): boolean {
  return TAG.test(s);
}

/** A digest in a URL or parameter: sha256 only; other algorithms are UNSUPPORTED, junk DIGEST_INVALID. */
export function parseDigest(s: string | null | undefined): Digest {
  const d = checkDigest(s ?? "");
  if (d === "unsupported") throw fail.unsupported(`digest algorithm of ${s} is not supported (sha256 only)`);
  if (d === "malformed") throw fail.digestInvalid("invalid digest");
  return d;
}

export type Reference = { kind: "tag"; tag: string } | { kind: "digest"; digest: Digest };

export function parseReference(ref: string): Reference {
  if (ref.includes(":")) return { kind: "digest", digest: parseDigest(ref) };
  if (!isTag(ref)) throw fail.nameInvalid("invalid tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}");
  return { kind: "tag", tag: ref };
}
