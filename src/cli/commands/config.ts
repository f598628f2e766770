/**
 * `nimbus config show|check`: each service's settings loaded as the service loads them. By default
 * from the running stack it finds (each service process's own environment); with --env from this
 * shell's environment, as a service started here would see it. Both exit 1 when anything is invalid.
 */
import { configSource, describeConfig, loadConfig, ConfigError, type Source } from "../../core/config/load.ts";
import type { SettingsSpec } from "../../core/config/settings.ts";
import { AppError } from "../../core/errors.ts";
import { isAlive, readState } from "../../up/state.ts";
import { processEnv } from "../../up/process-env.ts";
import { SERVICES } from "../services.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";

type Problem = { key: string; problem: string };
/** One process checked against its service's settings: its described values, or its problems. */
type Result = { name: string; service: string; values?: Record<string, unknown>; problems?: Problem[] };
/** What was read, and from where. */
type Target = { checked: string; processes: { name: string; service: string; source: () => Source }[] };

function pick(name: unknown): string[] {
  if (name === undefined) return Object.keys(SERVICES);
  if (!SERVICES[String(name)]) throw new AppError("bad_request", `--service must be one of ${Object.keys(SERVICES).join(", ")}`);
  return [String(name)];
}

/** The service a stack process runs: agents are started as agent-1, agent-2, … */
const serviceOf = (process: string) => (process.startsWith("agent-") ? "agent" : process);

function target(ctx: CliContext, services: string[], fromEnv: boolean): Target {
  const shell = (checked: string): Target => ({ checked, processes: services.map((s) => ({ name: s, service: s, source: () => configSource(ctx.env) })) });
  if (fromEnv) return shell("this shell's environment (--env)");
  const state = readState(ctx.dataDir);
  if (!state || !isAlive(state.pid)) return shell(`this shell's environment: no running stack in ${ctx.dataDir}`);
  const processes = Object.entries(state.services)
    .filter(([name]) => services.includes(serviceOf(name)))
    .map(([name, pid]) => ({ name, service: serviceOf(name), source: () => configSource(processEnv(pid)) }));
  return { checked: `the running stack in ${state.dataDir} (pid ${state.pid})`, processes };
}

function evaluate(t: Target): Result[] {
  return t.processes.map(({ name, service, source }) => {
    const spec: SettingsSpec = SERVICES[service]!;
    try {
      return { name, service, values: describeConfig(spec, loadConfig(spec, source())) };
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return { name, service, problems: e.problems };
    }
  });
}

const OPTIONS = { service: { type: "string" }, env: { type: "boolean" } } as const;
const WHERE = `By default the running stack found in the data directory (--data-dir, $NIMBUS_DATA_DIR or
~/.nimbus) is checked: each of its service processes, with the settings it started with. With --env,
or when no stack is running there, the settings come from this shell's environment and the file
named by NIMBUS_CONFIG, as a service started from this shell would read them. The first line says
which was checked.`;

export const configShow: Command = {
  name: "config show",
  summary: "show the effective configuration of each service (secrets redacted)",
  usage: "config show [--service NAME] [--env] [--json]",
  details: `${WHERE}\nExit status: 0 when every setting is valid, 1 when any is invalid (shown as INVALID), 2 on bad usage.`,
  options: OPTIONS,
  async run(ctx, v) {
    const t = target(ctx, pick(v.service), Boolean(v.env));
    const results = evaluate(t);
    const invalid = results.some((r) => r.problems);
    if (ctx.json) {
      ctx.out(JSON.stringify({ checked: t.checked, ok: !invalid, services: Object.fromEntries(results.map((r) => [r.name, r.values ?? { error: r.problems }])) }, null, 2));
      return invalid ? 1 : 0;
    }
    ctx.out(`# ${t.checked}`);
    for (const r of results) {
      ctx.out(`[${r.name}]`);
      for (const p of r.problems ?? []) ctx.out(`  ${p.key}: INVALID — ${p.problem}`);
      for (const [k, val] of Object.entries(r.values ?? {})) ctx.out(`  ${k}=${Array.isArray(val) ? val.join(",") : String(val)}`);
    }
    return invalid ? 1 : 0;
  },
};

export const configCheck: Command = {
  name: "config check",
  summary: "validate the configuration of each service; exit 1 naming each bad key",
  usage: "config check [--service NAME] [--env] [--json]",
  details: `${WHERE}\nExit status: 0 when every setting is valid, 1 when any is invalid (each bad key named on stderr), 2 on bad usage.`,
  options: OPTIONS,
  async run(ctx, v) {
    const t = target(ctx, pick(v.service), Boolean(v.env));
    const problems = evaluate(t).flatMap((r) => (r.problems ?? []).map((p) => ({ service: r.name, ...p })));
    if (ctx.json) ctx.out(JSON.stringify({ checked: t.checked, ok: problems.length === 0, problems }, null, 2));
    else {
      ctx.out(`checked ${t.checked}`);
      if (problems.length) for (const p of problems) ctx.err(`${p.service}: ${p.key}: ${p.problem}`);
      else ctx.out("configuration is valid");
    }
    return problems.length ? 1 : 0;
  },
};
