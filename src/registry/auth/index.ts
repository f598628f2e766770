/**
 * The registry's authentication (issue #12, "auth the way clients expect"): the access check the
 * distribution routes call, the token endpoint they mount, and how both are built from settings.
 */
import { registryKey } from "./token.ts";
import type { RegistryAuthDeps } from "./identity.ts";
import type { AuthOptions } from "../../http/common.ts";

export { registryAccess, challengeFor, tokenRealm, type RegistryAccess } from "./access.ts";
export { registryAuthRoutes } from "./routes.ts";
export { REGISTRY_SERVICE } from "./token.ts";
export { REGISTRY_ACTIONS, type RegistryAction } from "./scope.ts";
export { isMirrorRepository } from "./grants.ts";
export type { RegistryAuthDeps } from "./identity.ts";

/** The auth deps from the service's validated settings (src/registry/config.ts `registryAuthSettings`) and its AuthOptions (secret, ledger view). */
export function registryAuthDeps(
  auth: AuthOptions,
  c: { externalUrl: string; publicOrgs: string[]; tokenTtlSeconds: number; mirror?: { anonymous: boolean; libraryAlias: boolean } },
): RegistryAuthDeps {
  return { secret: auth.secret, key: registryKey(auth.secret), ledger: auth.ledger, publicOrgs: new Set(c.publicOrgs), externalUrl: c.externalUrl || null, tokenTtlSeconds: c.tokenTtlSeconds, mirror: c.mirror };
}
