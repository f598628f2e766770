/**
 * Runtime tokens for the cache: HS256 JWTs shaped like GitHub's ACTIONS_RUNTIME_TOKEN. The `ac`
 * claim is a JSON *string* of [{Scope, Permission}] (buildkit's client parses it and needs `exp`
 * and `nbf`); the first writable scope receives saves, and the order is the lookup order.
 * A distinct audience keeps these tokens from ever passing as admin or agent tokens. The `org` claim
 * names the job's organisation: the cache keeps each org's entries apart, even for repositories of
 * the same name; a token without one (minted before organisations) is of "default".
 * Shared below the apps: the cache verifies them; the control plane and the cache's admin API mint them.
 */
import { jwtVerify, errors as joseErrors } from "jose";
import { signHs256 } from "../auth/compact.ts";
import { hmacKey } from "../auth/keys.ts";
import { AppError } from "../core/errors.ts";
import { isOrgId } from "../auth/principal.ts";

/** The organisation of a runtime token that names none. */
export const DEFAULT_CACHE_ORG = "default";

/** Permission bits as GitHub encodes them in the runtime token's `ac` claim. */
export const READ = 1;
export const WRITE = 2;

export interface CacheScope {
  /** A git ref: refs/heads/main, refs/pull/42/merge, refs/tags/v1. */
  scope: string;
  permission: number;
}

/** Who is asking: the organisation, the repository and the ordered scopes of a verified runtime token. */
export interface Caller {
  /** The tenant the entries belong to (not the repository's owner). */
  org: string;
  /** owner/name, lower case. */
  repo: string;
  scopes: CacheScope[];
}

export const PATH_TRAVERSAL = /(^|[\\/])\.\.([\\/]|$)/;
const REPO = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/;
const REF = /^refs\/(heads|tags|pull)\/[^\s~^:?*\[\\\u0000-\u001f]{1,255}$/;

function bad(field: string, message: string): AppError {
  return new AppError("validation_failed", `${field}: ${message}`, { field });
}

export function checkRepo(repo: string): string {
  if (!REPO.test(repo) || repo.split("/").some((p) => p === "." || p === ".."))
    throw bad("repo", "must be OWNER/NAME");
  return repo.toLowerCase();
}

export function checkRef(ref: string, field = "ref"): string {
  if (!REF.test(ref) || PATH_TRAVERSAL.test(ref) || ref.endsWith("/") || ref.includes("//"))
    throw bad(field, "must be a full git ref such as refs/heads/main or refs/pull/42/merge");
  return ref;
}

const ISSUER = "nimbus";
export const CACHE_AUDIENCE = "nimbus-cache";


export interface RunScopeInput {
  /** The ref the run is for: refs/heads/feature, refs/tags/v1 or refs/pull/42/merge. */
  ref: string;
  /** For pull requests: the base branch (refs/heads/main). */
  baseRef?: string;
  /** The repository's default branch, as a ref. */
  defaultRef?: string;
}

/** GitHub's rules: write to the run's own ref; read it, then the PR base, then the default branch. */
export function scopesForRun(input: RunScopeInput): CacheScope[] {
  const out: CacheScope[] = [{ scope: checkRef(input.ref), permission: READ | WRITE }];
  for (const extra of [input.baseRef, input.defaultRef ?? "refs/heads/main"]) {
    if (!extra) continue;
    const ref = checkRef(extra, "baseRef");
    if (!out.some((s) => s.scope === ref)) out.push({ scope: ref, permission: READ });
  }
  return out;
}

export interface MintInput {
  /** The job's organisation (default "default"). */
  org?: string;
  repo: string;
  scopes: CacheScope[];
  ttlSeconds: number;
  /** Recorded as `sub` (e.g. the job id) for audit. */
  subject?: string;
}

export async function mintRuntimeToken(secret: string, input: MintInput): Promise<string> {
  const repo = checkRepo(input.repo);
  const org = input.org ?? DEFAULT_CACHE_ORG;
  if (!isOrgId(org)) throw bad("org", "must be an organisation id");
  const now = Math.floor(Date.now() / 1000);
  const ac = JSON.stringify(input.scopes.map((s) => ({ Scope: s.scope, Permission: s.permission })));
  return signHs256(secret, { ac, repository: repo, org, iss: ISSUER, aud: CACHE_AUDIENCE, sub: input.subject ?? `repo:${repo}`, iat: now, nbf: now - 5, exp: now + input.ttlSeconds });
}

function parseAc(raw: unknown): CacheScope[] {
  if (typeof raw !== "string") throw new AppError("unauthorized", "token has no cache scopes");
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    throw new AppError("unauthorized", "token cache scopes are malformed");
  }
  if (!Array.isArray(list)) throw new AppError("unauthorized", "token cache scopes are malformed");
  return list.map((s) => {
    const scope = (s as { Scope?: unknown }).Scope;
    const permission = (s as { Permission?: unknown }).Permission;
    if (typeof scope !== "string" || typeof permission !== "number") throw new AppError("unauthorized", "token cache scopes are malformed");
    return { scope, permission };
  });
}

export async function verifyRuntimeToken(secret: string, token: string | undefined): Promise<Caller> {
  if (!token) throw new AppError("unauthorized", "missing bearer token");
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, await hmacKey(secret), { issuer: ISSUER, audience: CACHE_AUDIENCE, algorithms: ["HS256"] }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new AppError("unauthorized", "runtime token expired");
    if (e instanceof joseErrors.JWTClaimValidationFailed) throw new AppError("unauthorized", "not a cache runtime token");
    throw new AppError("unauthorized", "invalid runtime token");
  }
  if (typeof payload.repository !== "string") throw new AppError("unauthorized", "token names no repository");
  const org = payload.org ?? DEFAULT_CACHE_ORG;
  if (!isOrgId(org)) throw new AppError("unauthorized", "token names no valid organisation");
  return { org, repo: checkRepo(payload.repository), scopes: parseAc(payload.ac) };
}
