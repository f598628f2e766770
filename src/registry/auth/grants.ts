/**
 * What a caller may do to a repository, pure. Repositories live under their organisation (`ORG/...`):
 * - operator: pull, push and delete everywhere;
 * - org-admin: pull, push and delete in its own org; member: pull and push; viewer: pull;
 * - agent tokens: nothing (a job reaches the registry with its registry credential, which grants
 *   what a member of the job's org has: pull and push);
 * - anyone, anonymous included: pull in an org that opted into public pull;
 * - the pull-through mirror (`mirror/...`, and `library/...` when it serves as a registry-mirrors
 *   endpoint): pull for any authenticated caller (anonymous too when opted in), never push or delete,
 *   whatever the role.
 * A token request's scopes are intersected with this: what is not granted is left out.
 */
import { seesOrg, type Principal, type Role } from "../../auth/principal.ts";
import { REGISTRY_ACTIONS, repoOrg, type RegistryAction, type Scope } from "./scope.ts";

const OWN_ORG: Record<Role, readonly RegistryAction[]> = {
  operator: REGISTRY_ACTIONS,
  "org-admin": REGISTRY_ACTIONS,
  member: ["pull", "push"],
  viewer: ["pull"],
  agent: [],
  enroll: [],
};

export interface GrantPolicy {
  /** Organisations whose repositories anyone may pull (NIMBUS_REGISTRY_PUBLIC_ORGS). */
  publicOrgs: ReadonlySet<string>;
  /** The mirror: anonymous pull allowed; `library/...` is the default upstream's (NIMBUS_REGISTRY_MIRROR_*). */
  mirror?: { anonymous: boolean; libraryAlias: boolean };
}

/** Whether `name` is served by the pull-through mirror (read-only, not an organisation's). */
export function isMirrorRepository(policy: GrantPolicy, name: string): boolean {
  const first = repoOrg(name);
  return first === "mirror" || (first === "library" && policy.mirror?.libraryAlias === true);
}

/** What `p` (null: anonymous) may do to repository `name`, in REGISTRY_ACTIONS order. */
export function allowedActions(policy: GrantPolicy, p: Principal | null, name: string): RegistryAction[] {
  if (isMirrorRepository(policy, name)) return p || policy.mirror?.anonymous ? ["pull"] : [];
  const org = repoOrg(name);
  const own = p && seesOrg(p, org) ? OWN_ORG[p.role] : [];
  const open = policy.publicOrgs.has(org) ? ["pull"] : [];
  return REGISTRY_ACTIONS.filter((a) => own.includes(a) || open.includes(a));
}

/** Whether `p` sees repository `name` at all (its own org, an operator, or a public org). */
export function seesRepository(policy: GrantPolicy, p: Principal | null, name: string): boolean {
  if (isMirrorRepository(policy, name)) return allowedActions(policy, p, name).length > 0;
  return allowedActions(policy, p, name).length > 0 || (p !== null && seesOrg(p, repoOrg(name)));
}

export interface Access {
  type: "repository";
  name: string;
  actions: RegistryAction[];
}

/** The granted part of the requested scopes: repository scopes only, actions intersected, empty ones left out. */
export function grant(policy: GrantPolicy, p: Principal | null, scopes: readonly Scope[]): Access[] {
  const out: Access[] = [];
  for (const s of scopes) {
    if (s.type !== "repository") continue;
    const allowed = allowedActions(policy, p, s.name);
    const actions = allowed.filter((a) => s.actions.includes(a));
    if (actions.length) out.push({ type: "repository", name: s.name, actions });
  }
  return out;
}
