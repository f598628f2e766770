/**
 * The registry's one access check: `registryAccess(deps, request, repo, actions)`. It takes a
 * registry token from the token endpoint, a Nimbus token or a job's registry credential (Bearer, or
 * the password of Basic auth), or nobody (public pull). It answers the principal, or throws an
 * AppError whose `details` say what the registry answers:
 * - 401, `details.ociCode` UNAUTHORIZED, `details.challenge` the `WWW-Authenticate` value (the token
 *   endpoint as realm, the scope the request needs): anonymous, bad or expired or revoked tokens, and
 *   registry tokens that lack the scope but whose caller could have it (`error="insufficient_scope"`);
 * - 403 DENIED: the caller sees the repository but its role does not allow the action;
 * - 404 NAME_UNKNOWN: another org's repository (its existence is not revealed);
 * - 400 NAME_INVALID: a name off the grammar.
 * `repo` null is the `/v2/` check: any valid credential passes, anonymous gets a challenge without scope.
 */
import { AppError, isAppError } from "../../core/errors.ts";
import { bearer } from "../../auth/tokens.ts";
import type { Principal } from "../../auth/principal.ts";
import { checkRepositoryName, formatScope, type RegistryAction } from "./scope.ts";
import { allowedActions, seesRepository } from "./grants.ts";
import { checkBound, identify, type RegistryAuthDeps } from "./identity.ts";
import { anonymousIdentity, isRegistryIssued, REGISTRY_SERVICE, verifyRegistryToken } from "./token.ts";

export interface RegistryAccess {
  principal: Principal;
  /** No credential (or an anonymous registry token): a public org's pull; the principal is a stand-in viewer of no org. */
  anonymous?: true;
}

/** The realm clients fetch tokens from: the token endpoint under the registry's external origin. */
export function tokenRealm(deps: Pick<RegistryAuthDeps, "externalUrl">, request: Request): string {
  return `${(deps.externalUrl ?? new URL(request.url).origin).replace(/\/+$/, "")}/v2/token`;
}

/** A `WWW-Authenticate: Bearer` value; `scope` and `error` only when given. */
export function challengeFor(realm: string, scope?: string, error?: string): string {
  return `Bearer realm="${realm}",service="${REGISTRY_SERVICE}"${scope ? `,scope="${scope}"` : ""}${error ? `,error="${error}"` : ""}`;
}

function unauthorized(message: string, challenge: string, reason?: unknown): AppError {
  return new AppError("unauthorized", message, { ociCode: "UNAUTHORIZED", challenge, ...(reason ? { reason } : {}) });
}

/** The credential a request carries: a Bearer token, or the password of Basic auth; null when none. */
export function credentialOf(request: Request): string | null {
  const header = request.headers.get("authorization");
  if (!header) return null;
  const token = bearer(header);
  if (token) return token;
  const basic = /^Basic\s+([A-Za-z0-9+/=]{1,16384})$/i.exec(header);
  if (!basic) return "";
  const text = Buffer.from(basic[1]!, "base64").toString();
  const colon = text.indexOf(":");
  return colon < 0 ? "" : text.slice(colon + 1);
}

/** The caller and, for a registry token, the access it holds (null: a credential whose role is its grant). */
async function caller(deps: RegistryAuthDeps, credential: string) {
  if (isRegistryIssued(credential)) {
    const t = await verifyRegistryToken(deps.key, credential);
    await checkBound(deps, t);
    return { principal: t.principal, held: t.access, anonymous: t.anonymous === true };
  }
  return { principal: (await identify(deps, credential)).principal, held: null, anonymous: false };
}

export async function registryAccess(deps: RegistryAuthDeps, request: Request, repo: string | null, actions: RegistryAction[]): Promise<RegistryAccess> {
  if (repo !== null) checkRepositoryName(repo);
  const realm = tokenRealm(deps, request);
  const scope = repo !== null ? formatScope({ name: repo, actions: actions.length ? actions : ["pull"] }) : undefined;
  const credential = credentialOf(request);
  if (credential === null) {
    if (repo !== null && actions.length && actions.every((a) => allowedActions(deps, null, repo).includes(a)))
      return { principal: anonymousIdentity(0).principal, anonymous: true };
    throw unauthorized("authentication required", challengeFor(realm, scope));
  }
  let who: Awaited<ReturnType<typeof caller>>;
  try {
    who = await caller(deps, credential);
  } catch (e) {
    if (isAppError(e, "unauthorized")) throw unauthorized(e.message, challengeFor(realm, scope, "invalid_token"), e.details?.reason);
    throw e;
  }
  if (repo === null) return { principal: who.principal, ...(who.anonymous ? { anonymous: true as const } : {}) };
  if (who.anonymous && !actions.every((a) => allowedActions(deps, null, repo).includes(a))) throw unauthorized("authentication required", challengeFor(realm, scope));
  if (!seesRepository(deps, who.principal, repo)) throw new AppError("not_found", `repository ${repo} not found`, { ociCode: "NAME_UNKNOWN" });
  const allowed = allowedActions(deps, who.principal, repo);
  const missing = actions.filter((a) => !allowed.includes(a));
  if (missing.length) throw new AppError("forbidden", `a ${who.principal.role} may not ${missing.join(", ")} ${repo}`, { ociCode: "DENIED", role: who.principal.role });
  const held = who.held?.find((a) => a.name === repo)?.actions;
  if (who.held && !actions.every((a) => held?.includes(a)))
    throw unauthorized(`the token does not grant ${scope}`, challengeFor(realm, scope, "insufficient_scope"), "insufficient_scope");
  return { principal: who.principal, ...(who.anonymous ? { anonymous: true as const } : {}) };
}
