/**
 * Who may do what to a repository: the one seam between the routes and authentication. Until the
 * Docker token flow (src/registry/auth/) lands, `bearerAccess` accepts a Nimbus token as the bearer
 * token, and authorises it against the repository's organisation (its name's first component):
 * org-admin pull, push and delete in its own org; member pull and push; viewer pull; operator every
 * org; agent nothing. Another org's repository is NAME_UNKNOWN (its existence is not revealed).
 */
import { AppError } from "../core/errors.ts";
import { authenticate, type AuthOptions } from "../http/common.ts";
import { seesOrg, type Principal, type Role } from "../auth/principal.ts";

export const REGISTRY_ACTIONS = ["pull", "push", "delete"] as const;
export type RegistryAction = (typeof REGISTRY_ACTIONS)[number];

/**
 * Throws an AppError (unauthorized, forbidden, not_found) that the routes turn into the spec's errors.
 * `repo` null (the `/v2/` check) asks only whether the caller is authenticated.
 */
export type Access = (request: Request, repo: string | null, actions: RegistryAction[]) => Promise<{ principal: Principal }>;

const GRANTS: Record<Role, ReadonlySet<RegistryAction>> = {
  operator: new Set(REGISTRY_ACTIONS),
  "org-admin": new Set(REGISTRY_ACTIONS),
  member: new Set(["pull", "push"]),
  viewer: new Set(["pull"]),
  agent: new Set(),
};

export function orgOf(repo: string): string {
  return repo.split("/")[0]!;
}

/** Whether `p` may do every one of `actions` on `repo`; throws not_found for another org, forbidden past its role. */
export function authorizeRepo(p: Principal, repo: string, actions: RegistryAction[]): void {
  if (!seesOrg(p, orgOf(repo))) throw new AppError("not_found", `repository ${repo} not found`);
  const missing = actions.filter((a) => !GRANTS[p.role].has(a));
  if (missing.length) throw new AppError("forbidden", `a ${p.role} token may not ${missing.join(", ")} ${repo}`, { role: p.role });
}

export function bearerAccess(auth: AuthOptions): Access {
  return async (request, repo, actions) => {
    const principal = await authenticate(request, auth);
    if (repo !== null) authorizeRepo(principal, repo, actions);
    return { principal };
  };
}
