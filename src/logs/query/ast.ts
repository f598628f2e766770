/**
 * The log search language's tree (parsed once by parse.ts; matched in memory by match.ts, compiled
 * to parameterised SQL per backend by sqlite.ts and clickhouse.ts).
 *
 *   text      a bare word: the message contains it (case-insensitive)
 *   phrase    "several words": the message contains them, in order, as written (case-insensitive)
 *   regex     /pattern/: the message matches (an RE2-compatible subset, regex.ts)
 *   field     name:value, name:"value", name:/pattern/: a line's or its job's field
 *   not / and / or
 */

/** Fields a query may filter on. `org` is for operators (everyone else is scoped to their own org anyway). */
export const FIELDS = ["org", "repo", "workflow", "job", "step", "branch", "level", "agent", "status"] as const;
export type Field = (typeof FIELDS)[number];

/** Levels a line has: from the workflow-command markers in it (`##[error]`, `::warning ...::`), else `info`. */
export const LEVELS = ["error", "warning", "notice", "info", "debug"] as const;
/** An attempt's status, from its end: `succeeded` (exit 0), `failed` (another exit code), `running` (no end yet), `ended` (no exit code: cancelled, lost). */
export const STATUSES = ["succeeded", "failed", "running", "ended"] as const;

export type Value = { kind: "exact"; value: string } | { kind: "glob"; value: string } | { kind: "regex"; source: string; flags: string };

export type Node =
  | { kind: "text"; value: string }
  | { kind: "phrase"; value: string }
  | { kind: "regex"; source: string; flags: string }
  | { kind: "field"; field: Field; value: Value }
  | { kind: "not"; child: Node }
  | { kind: "and"; children: Node[] }
  | { kind: "or"; children: Node[] };

/** What a matcher sees of one line: the line, its job's fields, its attempt's status. */
export interface LineFacts {
  org: string;
  repo: string;
  workflow: string;
  job: string;
  jobId: string;
  step: string;
  branch: string;
  level: string;
  agent: string;
  status: string;
  text: string;
}
