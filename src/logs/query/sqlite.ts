/**
 * A query tree as a parameterised SQLite condition over `lines l` joined with `job_meta m` and
 * `ends e` (backends/sqlite.ts). Nothing from the query is pasted into the SQL: every value is a
 * bound parameter; only column names from a fixed table are written. Text terms are LIKE with
 * escaping (ASCII case-insensitive, as SQLite's LIKE is); patterns go through the registered
 * `nimbus_regexp(source, flags, text)` (the checked subset, regex.ts).
 */
import type { Field, Node, Value } from "./ast.ts";

export const STATUS_SQL = "case when e.job_id is null then 'running' when e.exit_code is null then 'ended' when e.exit_code = 0 then 'succeeded' else 'failed' end";

const COLUMN: Record<Exclude<Field, "job">, string> = {
  org: "l.org",
  repo: "coalesce(m.repo, '')",
  workflow: "coalesce(m.workflow, '')",
  step: "l.step",
  branch: "coalesce(m.branch, '')",
  level: "l.level",
  agent: "l.agent",
  status: STATUS_SQL,
};

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export interface Compiled {
  sql: string;
  params: (string | number)[];
}

function value(col: string, v: Value, params: (string | number)[]): string {
  if (v.kind === "exact") {
    params.push(v.value);
    return `lower(${col}) = lower(?)`;
  }
  if (v.kind === "glob") {
    params.push(v.value.split("*").map(likeEscape).join("%"));
    return `${col} like ? escape '\\'`;
  }
  params.push(v.source, v.flags);
  return `nimbus_regexp(?, ?, ${col})`;
}

export function compileSqlite(n: Node): Compiled {
  const params: (string | number)[] = [];
  const walk = (x: Node): string => {
    switch (x.kind) {
      case "text":
      case "phrase":
        params.push(`%${likeEscape(x.value)}%`);
        return "l.text like ? escape '\\'";
      case "regex":
        params.push(x.source, x.flags);
        return "nimbus_regexp(?, ?, l.text)";
      case "field":
        if (x.field === "job") return `(${value("coalesce(m.job_name, '')", x.value, params)} or ${value("l.job_id", x.value, params)})`;
        return value(COLUMN[x.field], x.value, params);
      case "not":
        return `not (${walk(x.child)})`;
      case "and":
        return `(${x.children.map(walk).join(" and ")})`;
      case "or":
        return `(${x.children.map(walk).join(" or ")})`;
    }
  };
  return { sql: walk(n), params };
}
