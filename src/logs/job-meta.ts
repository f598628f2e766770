/** A job's searchable fields as its record names them (src/jobs/record.ts), for the lines the log service stores. */
import type { JobRecord } from "../jobs/record.ts";
import type { JobMeta } from "./store.ts";

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
