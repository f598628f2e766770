/**
 * Who may do what to a repository: the one seam between the distribution routes and authentication.
 * The routes see only `Access`; the service builds it from the Docker token flow (`registryAccess` in
 * src/registry/auth/: registry tokens from `/v2/token`, Nimbus tokens, jobs' registry credentials,
 * anonymous pull of public orgs). It throws an AppError whose `details.ociCode` and
 * `details.challenge` say what the registry answers (see toRegistryError).
 */
import { registryAccess, type RegistryAccess, type RegistryAction, type RegistryAuthDeps } from "./auth/index.ts";

export type { RegistryAction } from "./auth/index.ts";

/** `repo` null (the `/v2/` check) asks only whether the caller is authenticated. */
export type Access = (request: Request, repo: string | null, actions: RegistryAction[]) => Promise<RegistryAccess>;

export function tokenFlowAccess(deps: RegistryAuthDeps): Access {
  return (request, repo, actions) => registryAccess(deps, request, repo, actions);
}
