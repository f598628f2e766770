/**
 * The token endpoint's core, pure but for token signing: a credential (or none) and the requested
 * scopes in, the Docker token response out. The scopes granted are the requested ones intersected
 * with what the caller may (./grants.ts); a denied scope is simply left out, and the registry then
 * refuses the request that needed it. Anonymous callers get a token too, holding only the pulls
 * public organisations allow.
 */
import { AppError } from "../../core/errors.ts";
import { grant, type Access } from "./grants.ts";
import { identify, type RegistryAuthDeps } from "./identity.ts";
import { formatScope, type Scope } from "./scope.ts";
import { anonymousIdentity, mintRefreshToken, mintRegistryToken, REGISTRY_SERVICE, type Identity } from "./token.ts";

export interface TokenRequest {
  /** The password of Basic auth, a Bearer token, or a refresh token; null: anonymous. */
  credential: string | null;
  /** `service=`: when given, it must be this registry's. */
  service: string | null;
  scopes: Scope[];
  /** Also issue a refresh token (`offline_token=true`, or `access_type=offline` in the POST form). */
  offline: boolean;
}

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  /** The granted scopes, space-separated (the OAuth2 form of the answer). */
  scope: string;
  refresh_token?: string;
}

export function checkService(service: string | null): void {
  if (service !== null && service !== REGISTRY_SERVICE)
    throw new AppError("bad_request", `this token endpoint issues tokens for service "${REGISTRY_SERVICE}" only`, { ociCode: "UNSUPPORTED" });
}

export async function issueToken(deps: RegistryAuthDeps, r: TokenRequest): Promise<TokenResponse & { granted: Access[] }> {
  checkService(r.service);
  const id: Identity | null = r.credential === null ? null : await identify(deps, r.credential);
  const granted = grant(deps, id?.principal ?? null, r.scopes);
  const now = Math.floor(Date.now() / 1000);
  const minted = await mintRegistryToken(deps.key, id ?? anonymousIdentity(now + deps.tokenTtlSeconds), granted, deps.tokenTtlSeconds, now);
  const out: TokenResponse & { granted: Access[] } = {
    token: minted.token,
    access_token: minted.token,
    expires_in: minted.expiresIn,
    issued_at: new Date(minted.issuedAt * 1000).toISOString(),
    scope: granted.map((a) => formatScope(a)).join(" "),
    granted,
  };
  if (r.offline && id) out.refresh_token = await mintRefreshToken(deps.key, id, now);
  return out;
}
