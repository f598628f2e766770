/** A line as a log search across jobs returns it (`/v1/logs/search`, its live follow): the line, its job's fields, its attempt's status. */
import type { StoredLine } from "./log-batch.ts";

export interface SearchHit extends StoredLine {
  jobId: string;
  org: string;
  repo: string;
  workflow: string;
  job: string;
  branch: string;
  step: string;
  level: string;
  agent: string;
  status: string;
}
