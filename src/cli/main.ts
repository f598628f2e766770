#!/usr/bin/env bun
/** `nimbus`: the command-line interface. */
import { parseArgs } from "node:util";
import { AppError } from "../core/errors.ts";
import { redactText } from "../core/log.ts";
import { GLOBAL_OPTIONS, helpText, type Command } from "./command.ts";
import { makeContext, UsageError } from "./context.ts";
import { COMMANDS } from "./commands/index.ts";
import { VERSION } from "../version.ts";

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `nimbus ${VERSION} — self-hosted CI runners: each job in a fresh, isolated sandbox or microVM`,
    "",
    "Usage: nimbus COMMAND [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Every command takes --data-dir DIR (or NIMBUS_DATA_DIR), --json where it lists, and --help.",
    "Against a remote stack set NIMBUS_URL and NIMBUS_TOKEN.",
  ].join("\n");
}

/** The command words: leading non-option tokens (global options and their values may come first). */
function findCommand(head: string[]): { command: Command; args: string[]; words: string[] } {
  const idx: number[] = [];
  for (let i = 0; i < head.length && idx.length < 2; i++) {
    const a = head[i]!;
    if (a.startsWith("-")) {
      const opt = GLOBAL_OPTIONS[a.replace(/^--?/, "")];
      if (opt?.type === "string" && !a.includes("=")) i++;
      continue;
    }
    idx.push(i);
  }
  const words = idx.map((i) => head[i]!);
  const byLength = [...COMMANDS].sort((a, b) => b.name.split(" ").length - a.name.split(" ").length);
  for (const c of byLength) {
    const parts = c.name.split(" ");
    if (parts.every((p, i) => words[i] === p)) {
      const drop = new Set(idx.slice(0, parts.length));
      return { command: c, args: head.filter((_, i) => !drop.has(i)), words };
    }
  }
  return { command: undefined as unknown as Command, args: head, words };
}

export async function main(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf("--");
  const head = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const tail = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  if (head.includes("--version")) return console.log(VERSION), 0;
  const { command, args, words } = findCommand(head);
  if (!command) {
    const group = COMMANDS.filter((c) => words[0] && c.name.startsWith(`${words[0]} `));
    if (words.length && !group.length) {
      process.stderr.write(`nimbus: unknown command "${words.join(" ")}"\n\n${overview()}\n`);
      return 2;
    }
    if (group.length) {
      process.stderr.write(`nimbus ${words[0]}: choose one of:\n${group.map((c) => `  nimbus ${c.usage}`).join("\n")}\n`);
      return 2;
    }
    process.stdout.write(overview() + "\n");
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`nimbus ${command.name}: ${(e as Error).message}\n\n${helpText(command)}\n`);
    return 2;
  }
  const values = parsed.values as Record<string, unknown>;
  if (values.help) return process.stdout.write(helpText(command) + "\n"), 0;
  const positionals = [...parsed.positionals, ...tail];
  const min = command.positionals?.min ?? 0;
  const max = command.positionals ? command.positionals.max ?? Infinity : 0;
  if (positionals.length < min || positionals.length > max) {
    const why = positionals.length < min ? `missing ${command.positionals!.name}` : `unexpected argument "${positionals[max]}"`;
    process.stderr.write(`nimbus ${command.name}: ${why}\n\n${helpText(command)}\n`);
    return 2;
  }
  const ctx = makeContext(values["data-dir"] as string | undefined, Boolean(values.json));
  try {
    return await command.run(ctx, values, positionals);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`nimbus ${command.name}: ${e.message}\n`);
      return 2;
    }
    const msg = e instanceof AppError || e instanceof Error ? e.message : String(e);
    process.stderr.write(`nimbus ${command.name}: ${redactText(msg)}\n`);
    return 1;
  }
}

if (import.meta.main) process.exit(await main(Bun.argv.slice(2)));
