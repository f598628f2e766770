/** A parsed query matched against one line in memory: live follows, and what a backend cannot say in SQL. */
import type { LineFacts, Node, Value } from "./ast.ts";
import { jsRegex } from "./regex.ts";

/** A glob (`*` any run of characters) as an anchored, case-insensitive RegExp. */
export function globRegex(glob: string): RegExp {
  return new RegExp(`^${glob.split("*").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, "is");
}

function valueMatches(v: Value, actual: string): boolean {
  if (v.kind === "exact") return actual.toLowerCase() === v.value.toLowerCase();
  if (v.kind === "glob") return globRegex(v.value).test(actual);
  return jsRegex(v.source, v.flags).test(actual);
}

export function matches(n: Node, f: LineFacts): boolean {
  switch (n.kind) {
    case "text":
    case "phrase":
      return f.text.toLowerCase().includes(n.value.toLowerCase());
    case "regex":
      return jsRegex(n.source, n.flags).test(f.text);
    case "field":
      // `job:` is the job's name or its id.
      if (n.field === "job") return valueMatches(n.value, f.job) || valueMatches(n.value, f.jobId);
      return valueMatches(n.value, f[n.field]);
    case "not":
      return !matches(n.child, f);
    case "and":
      return n.children.every((c) => matches(c, f));
    case "or":
      return n.children.some((c) => matches(c, f));
  }
}
