/** Ask GitHub about one job now and record the answer as facts (the reconciler's re-drive, the agents' lookup). */
import { getJobFacts, type JobFacts } from "./facts.ts";
import { recordObservation, type IntakeDeps } from "./intake.ts";
import type { GithubClient } from "./client.ts";

export type LookupDeps = Pick<IntakeDeps, "store" | "github" | "config" | "labels" | "log" | "metrics" | "limiter"> & { client: GithubClient };

export async function lookupJob(deps: LookupDeps, jobId: string): Promise<JobFacts | null> {
  const job = await deps.store.get(jobId);
  const g = job?.value.github;
  if (!g) return null;
  const gh = await deps.client.getJob(g.installationId, g.owner, g.repo, g.jobId);
  if (!gh) return null;
  await recordObservation(deps, {
    action: gh.status,
    workflow_job: gh,
    repository: { name: g.repo, full_name: `${g.owner}/${g.repo}`, owner: { login: g.owner } },
    installation: { id: g.installationId },
    organization: g.org ? { login: g.org } : null,
  });
  return getJobFacts(deps.github, g.jobId);
}
