/**
 * A query tree as a ClickHouse condition over `log_lines` (backends/clickhouse.ts) with every value a
 * typed query parameter (`{p0:String}`), never pasted text. Text terms are ILIKE with LIKE's
 * wildcards escaped; patterns are RE2's own `match` (the subset regex.ts allows reads alike there).
 * SQL stays to what ClickHouse servers from 24.x accept.
 */
import type { Field, Node, Value } from "./ast.ts";

/** `e` is the attempt's end (a LEFT JOIN; `has_end` is 0 where there is none). */
export const STATUS_CH = "if(e.has_end = 0, 'running', if(isNull(e.exit_code), 'ended', if(e.exit_code = 0, 'succeeded', 'failed')))";

const COLUMN: Record<Exclude<Field, "job">, string> = {
  org: "l.org",
  repo: "l.repo",
  workflow: "l.workflow",
  step: "l.step",
  branch: "l.branch",
  level: "l.level",
  agent: "l.agent",
  status: STATUS_CH,
};

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export interface CompiledCh {
  sql: string;
  params: Record<string, string>;
}

export function compileClickHouse(n: Node, prefix = "q"): CompiledCh {
  const params: Record<string, string> = {};
  let k = 0;
  const bind = (v: string) => {
    const name = `${prefix}${k++}`;
    params[name] = v;
    return `{${name}:String}`;
  };
  const value = (col: string, v: Value): string => {
    if (v.kind === "exact") return `lower(${col}) = lower(${bind(v.value)})`;
    if (v.kind === "glob") return `${col} ILIKE ${bind(v.value.split("*").map(likeEscape).join("%"))}`;
    return `match(${col}, ${bind((v.flags.includes("i") ? "(?i)" : "") + v.source)})`;
  };
  const walk = (x: Node): string => {
    switch (x.kind) {
      case "text":
      case "phrase":
        return `l.message ILIKE ${bind(`%${likeEscape(x.value)}%`)}`;
      case "regex":
        return `match(l.message, ${bind((x.flags.includes("i") ? "(?i)" : "") + x.source)})`;
      case "field":
        if (x.field === "job") return `(${value("l.job_name", x.value)} OR ${value("l.job_id", x.value)})`;
        return value(COLUMN[x.field], x.value);
      case "not":
        return `NOT (${walk(x.child)})`;
      case "and":
        return `(${x.children.map(walk).join(" AND ")})`;
      case "or":
        return `(${x.children.map(walk).join(" OR ")})`;
    }
  };
  return { sql: walk(n), params };
}
