/**
 * A job's searchable fields as its record names them, for the lines the log service stores: the control
 * plane puts them in the attempt's log credential (src/auth/log-credential.ts), so ingest reads no record.
 */
import type { JobRecord } from "./record.ts";
import type { JobMeta } from "../auth/log-credential.ts";

export { NO_META, type JobMeta } from "../auth/log-credential.ts";

const bounded = (s: string | undefined) => (s ?? "").slice(0, 255);

export function jobMetaOf(r: JobRecord): JobMeta {
  const gh = r.github;
  return {
    repo: bounded(gh ? `${gh.owner}/${gh.repo}` : r.cache?.repo),
    workflow: bounded(gh?.workflowName),
    jobName: bounded(gh?.jobName ?? r.name),
    branch: bounded(gh?.branch ?? r.cache?.ref?.replace(/^refs\/heads\//, "")),
  };
}
