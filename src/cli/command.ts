import type { ParseArgsConfig } from "node:util";
import type { CliContext } from "./context.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Command {
  /** Words that select the command, e.g. "jobs list". */
  name: string;
  summary: string;
  usage: string;
  /** Extra help text after the usage line. */
  details?: string;
  options: Options;
  /** Whether words after the options are allowed (and how many at least). */
  positionals?: { min: number; max?: number; name: string };
  run(ctx: CliContext, values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

export const GLOBAL_OPTIONS: Options = {
  "data-dir": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

export function helpText(c: Command): string {
  const lines = [`nimbus ${c.name} — ${c.summary}`, "", `Usage: nimbus ${c.usage}`];
  if (c.details) lines.push("", c.details.trim());
  lines.push("", "Global options:", "  --data-dir DIR   the local stack's data directory (default: $NIMBUS_DATA_DIR or ~/.nimbus)", "  --json           machine-readable output", "  -h, --help       this help");
  return lines.join("\n");
}
