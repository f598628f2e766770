/**
 * The Actions cache scope of a GitHub workflow job: its repository and the ref it runs on
 * (`refs/heads/<head_branch>`), as GitHub scopes its own cache. The handout mints the job's cache
 * runtime token for it, within the job's organisation, as for a direct job; the agent binds the
 * job's VM to that token at the results-host gateway. A job whose branch GitHub does not name (or
 * names with characters no git ref has) gets no scope: its VM is not bound, and its cache calls go
 * to GitHub.
 */
import { checkRef, checkRepo } from "../protocol/cache-token.ts";
import type { WorkflowJobPayload } from "./webhook.ts";

export function githubCacheScope(p: Pick<WorkflowJobPayload, "repository" | "workflow_job">): { repo: string; ref: string } | undefined {
  const branch = p.workflow_job.head_branch;
  if (typeof branch !== "string" || !branch || branch.length > 200) return undefined;
  try {
    return { repo: checkRepo(`${p.repository.owner.login}/${p.repository.name}`), ref: checkRef(`refs/heads/${branch}`) };
  } catch {
    return undefined;
  }
}
