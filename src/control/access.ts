/**
 * Who may do what on the control plane's API: every route names its action and, for one job, the
 * job's org (src/auth/principal.ts). Another org's job is a 404 (its existence is not revealed),
 * a missing grant a 403; both before anything is read or changed. Agent tokens have their own
 * paths (the GitHub runner service and the secrets handout, over NATS), never these routes.
 */
import { AppError } from "../core/errors.ts";
import { isJobId } from "../core/ids.ts";
import { authorize, isOrgId, listingOrg, type Action, type Principal, type Role } from "../auth/principal.ts";
import { orgOf } from "../jobs/org.ts";
import type { JobRecord, Versioned } from "../jobs/record.ts";
import type { JobStore } from "../jobs/store.ts";

/** The roles the API accepts at all; what each may do is `authorize`'s answer, per route. */
export const API_ROLES: readonly Role[] = ["operator", "org-admin", "member", "viewer"];

/** The same words as authorize's 404 for another org's job: the two cannot be told apart. */
const notFound = (id: string) => new AppError("not_found", `job ${id} not found`);

/** The job `id`, if `p` may do `action` to it: unknown and other orgs' jobs are the same 404. */
export async function jobFor(store: JobStore, p: Principal, id: string, action: Action): Promise<Versioned<JobRecord>> {
  if (!isJobId(id)) throw new AppError("not_found", `job ${JSON.stringify(id.slice(0, 100))} not found`);
  const job = await store.get(id);
  if (!job) throw notFound(id);
  authorize(p, action, { org: orgOf(job.value), what: `job ${id}` });
  return job;
}

/** The org a listing shows: the caller's own; an operator's `?org=` (validated), or every org. */
export function listingOrgParam(p: Principal, asked: unknown): string | null {
  if (asked !== undefined && !isOrgId(asked)) throw new AppError("validation_failed", "org: must be an organisation id (lower-case letters, digits and dashes, up to 64)", { field: "org" });
  return listingOrg(p, asked);
}
