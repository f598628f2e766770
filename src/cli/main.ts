#!/usr/bin/env bun
/** `nimbus`: the command-line interface. */
import { AppError } from "../core/errors.ts";
import { redactText } from "../core/log.ts";
import { GLOBAL_OPTIONS, helpText, type Command } from "./command.ts";
import { parseCommandArgs } from "./argv.ts";
import { nearest } from "./suggest.ts";
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
    "Every command takes --data-dir DIR (or NIMBUS_DATA_DIR), --json where it lists, and --help;",
    "a group (nimbus jobs, nimbus config, …) alone lists its commands.",
    "Exit status: 0 done, 1 failed (a job's own exit code for run), 2 bad usage.",
    "Against a remote stack set NIMBUS_URL and NIMBUS_TOKEN (NIMBUS_URL may list several control-plane",
    "replicas, comma-separated: a request that finds one down goes to the next; the CLI retries a control",
    "plane that is not answering for NIMBUS_CLI_RETRY_SECONDS, default 15, so a rolling restart fails nothing).",
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

/** `nimbus GROUP` and `nimbus GROUP --help`: the group's commands, one line each. */
function groupHelp(group: string, members: Command[]): string {
  const width = Math.max(...members.map((c) => c.name.length));
  return [`nimbus ${group} — ${members.length === 1 ? "one command" : `${members.length} commands`}:`, "", ...members.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`), "", `Run nimbus ${members[0]!.name} --help for one command's options.`].join("\n");
}

/** A usage mistake: what was wrong (with a suggestion), then one usage line, never the whole help. */
function usageError(where: string, problem: string, usage: string, more: string): number {
  process.stderr.write(`nimbus${where ? ` ${where}` : ""}: ${problem}\nUsage: nimbus ${usage}  (${more})\n`);
  return 2;
}

function unknownCommand(words: string[]): number {
  const group = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `));
  const typed = group.length ? words.slice(0, 2).join(" ") : words[0]!;
  const candidates = group.length ? group.map((c) => c.name) : [...new Set(COMMANDS.map((c) => c.name.split(" ")[0]!))];
  const guess = nearest(typed, candidates);
  const problem = `unknown command "${typed}"${guess ? ` — did you mean "${guess}"?` : ""}`;
  return group.length
    ? usageError("", problem, `${words[0]} COMMAND [options]`, `nimbus ${words[0]} --help lists them`)
    : usageError("", problem, "COMMAND [options]", "nimbus --help lists the commands");
}

export async function main(argv: string[]): Promise<number> {
  const dashdash = argv.indexOf("--");
  const head = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const tail = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  if (head.includes("--version")) return console.log(VERSION), 0;
  const { command, args, words } = findCommand(head);
  if (!command) {
    if (!words.length) {
      const stray = args.find((a) => a.startsWith("-") && !["-h", "--help"].includes(a) && !GLOBAL_OPTIONS[a.replace(/^--?/, "").split("=")[0]!]);
      if (stray) {
        const guess = nearest(stray, ["--help", "--version", "--data-dir", "--json"]);
        return usageError("", `unknown option ${stray}${guess ? ` — did you mean ${guess}?` : ""}`, "COMMAND [options]", "nimbus --help lists the commands");
      }
      return process.stdout.write(overview() + "\n"), 0;
    }
    const group = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `));
    if (group.length && words.length === 1) return process.stdout.write(groupHelp(words[0]!, group) + "\n"), 0;
    return unknownCommand(words);
  }
  const more = `nimbus ${command.name} --help for more`;
  // A command that also heads a group (`logs` and `logs search`): bare, it lists them all; its help names the others.
  const heads = COMMANDS.filter((c) => c.name.startsWith(`${command.name} `));
  if (heads.length && !tail.length && !args.some((a) => !a.startsWith("-")) && !args.some((a) => a === "-h" || a === "--help"))
    return process.stdout.write(groupHelp(command.name, [command, ...heads]) + "\n"), 0;
  let parsed;
  try {
    parsed = parseCommandArgs(command, args, tail);
  } catch (e) {
    if (e instanceof UsageError) return usageError(command.name, e.message, command.usage, more);
    throw e;
  }
  const { values, positionals } = parsed;
  if (values.help) return process.stdout.write(helpText(command) + (heads.length ? `\n\n${groupHelp(command.name, [command, ...heads])}` : "") + "\n"), 0;
  const ctx = makeContext(values["data-dir"] as string | undefined, Boolean(values.json));
  try {
    return await command.run(ctx, values, positionals);
  } catch (e) {
    if (e instanceof UsageError) return usageError(command.name, e.message, command.usage, more);
    const msg = e instanceof AppError || e instanceof Error ? e.message : String(e);
    process.stderr.write(`nimbus ${command.name}: ${redactText(msg)}\n`);
    return 1;
  }
}

if (import.meta.main) process.exit(await main(Bun.argv.slice(2)));
