/**
 * Who is calling, and what they may do: the tenant model every service checks (DESIGN.md §7).
 *
 * An organisation is the tenant. Every job, log line, cache entry, token and audit record carries
 * one; every read is filtered on the server by the caller's org. An operator sees every org.
 * This module is pure: no I/O, no token parsing (src/auth/tokens.ts turns a token into a Principal).
 */
import { AppError } from "../core/errors.ts";

export const ROLES = ["operator", "org-admin", "member", "viewer", "agent", "enroll"] as const;
export type Role = (typeof ROLES)[number];

/**
 * Roles that belong to no organisation: operators, agents, and enrollment tokens (one-time tokens a
 * new host trades for its agent token at POST /api/agents/enroll; they grant nothing else).
 */
export const PLATFORM_ROLES: readonly Role[] = ["operator", "agent", "enroll"];
export const isOrgRole = (r: Role): boolean => !PLATFORM_ROLES.includes(r);

export interface Principal {
  /** The token's id (`jti`): what the ledger records and a revocation names. */
  tokenId: string;
  /** Who: a person's name, a service account's name, or the agent's id for an agent token. */
  sub: string;
  role: Role;
  /** The caller's organisation; null only for operators and agents (platform-wide). */
  org: string | null;
  /** A service account: a non-human member or viewer with a name. */
  service?: boolean;
  /** Agent tokens are bound to one agent id. */
  agentId?: string;
}

export const ACTIONS = [
  "jobs:submit", "jobs:read", "jobs:cancel",
  "logs:read", "logs:write",
  "cache:read", "cache:admin",
  "tokens:read", "tokens:mint", "tokens:revoke",
  "audit:read",
  "limits:read", "limits:write",
  "agents:read", "agents:manage",
  "metrics:read",
  "forges:read",
] as const;
export type Action = (typeof ACTIONS)[number];

const READ: Action[] = ["jobs:read", "logs:read", "cache:read", "agents:read"];
const GRANTS: Record<Role, ReadonlySet<Action>> = {
  operator: new Set(ACTIONS.filter((a) => a !== "logs:write")),
  "org-admin": new Set<Action>([...READ, "jobs:submit", "jobs:cancel", "cache:admin", "tokens:read", "tokens:mint", "tokens:revoke", "audit:read", "limits:read"]),
  member: new Set<Action>([...READ, "jobs:submit", "jobs:cancel"]),
  viewer: new Set<Action>(READ),
  agent: new Set<Action>(["logs:write"]),
  enroll: new Set<Action>(),
};

export function can(p: Principal, action: Action): boolean {
  return GRANTS[p.role].has(action);
}

/** Whether `p` may see resources of `org` at all (an operator sees every org). */
export function seesOrg(p: Principal, org: string | null | undefined): boolean {
  return p.role === "operator" || (p.org !== null && p.org === org);
}

/**
 * Check `action` on a resource of `org` (omit `org` for a collection the caller will filter).
 * Another org's resource is a 404 — its existence is not revealed; a missing grant is a 403.
 * `what` names the resource in the 404 ("job j-123").
 */
export function authorize(p: Principal, action: Action, resource?: { org: string | null | undefined; what: string }): void {
  if (resource && !seesOrg(p, resource.org)) throw new AppError("not_found", `${resource.what} not found`);
  if (!can(p, action)) throw new AppError("forbidden", `a ${p.role} token may not ${action.replace(":", " ")}`, { action, role: p.role });
}

/** The org a listing is restricted to: the caller's own, or (operators) the one asked for, or every org (null). */
export function listingOrg(p: Principal, asked?: string): string | null {
  if (p.role === "operator") return asked ?? null;
  if (asked !== undefined && asked !== p.org) throw new AppError("forbidden", `a ${p.role} token sees only its organisation ${p.org}`);
  return p.org;
}

/** Organisation ids: lower-case letters, digits and dashes (a GitHub login lower-cased fits), up to 64. */
export const ORG_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export function isOrgId(s: unknown): s is string {
  return typeof s === "string" && ORG_ID_PATTERN.test(s);
}
