/**
 * A command's options and arguments parsed strictly, with every mistake reported in our own words
 * (the parser's codes are branched on, never its text): an unknown option with the nearest known
 * one, a missing value, a value given to a switch, a missing or extra argument.
 */
import { parseArgs } from "node:util";
import { GLOBAL_OPTIONS, type Command, type Options } from "./command.ts";
import { UsageError } from "./context.ts";
import { nearest } from "./suggest.ts";

export interface ParsedArgs {
  values: Record<string, unknown>;
  positionals: string[];
}

/** Every spelling an option can be given as: --name, and -x for those with a short form. */
function spellings(options: Options): string[] {
  return Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]);
}

function diagnose(options: Options, args: string[]): string {
  const { tokens = [] } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens) {
    if (t.kind !== "option") continue;
    const o = options[t.name];
    if (!o) {
      const guess = nearest(t.rawName, spellings(options));
      return `unknown option ${t.rawName}${guess ? ` — did you mean ${guess}?` : ""}`;
    }
    if (o.type === "string" && (t.value === undefined || (!t.inlineValue && t.value.startsWith("-")))) return `${t.rawName} needs a value`;
    if (o.type === "boolean" && t.value !== undefined) return `${t.rawName} is a switch and takes no value`;
  }
  return "cannot read the options";
}

export function parseCommandArgs(command: Command, args: string[], tail: string[]): ParsedArgs {
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") throw new UsageError(diagnose(options, args));
    throw e;
  }
  const values = parsed.values as Record<string, unknown>;
  const positionals = [...parsed.positionals, ...tail];
  if (values.help) return { values, positionals };
  const min = command.positionals?.min ?? 0;
  const max = command.positionals ? command.positionals.max ?? Infinity : 0;
  if (positionals.length < min) throw new UsageError(`missing ${command.positionals!.name}`);
  if (positionals.length > max) throw new UsageError(`unexpected argument "${positionals[max]}"${max === 0 ? " (this command takes none)" : ""}`);
  return { values, positionals };
}
