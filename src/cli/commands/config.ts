import { configSource, describeConfig, loadConfig, ConfigError } from "../../core/config/load.ts";
import type { SettingsSpec } from "../../core/config/settings.ts";
import { AppError } from "../../core/errors.ts";
import { SERVICES } from "../services.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";

function pick(name: unknown): [string, SettingsSpec][] {
  if (name === undefined) return Object.entries(SERVICES);
  const spec = SERVICES[String(name)];
  if (!spec) throw new AppError("bad_request", `--service must be one of ${Object.keys(SERVICES).join(", ")}`);
  return [[String(name), spec]];
}

type Problem = { key: string; problem: string };

/** Each chosen service's settings loaded as the service would: its described values, or its problems. */
function evaluate(ctx: CliContext, service: unknown): { name: string; values?: Record<string, unknown>; problems?: Problem[] }[] {
  const source = configSource(ctx.env);
  return pick(service).map(([name, spec]) => {
    try {
      return { name, values: describeConfig(spec, loadConfig(spec, source)) };
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return { name, problems: e.problems };
    }
  });
}

export const configShow: Command = {
  name: "config show",
  summary: "show the effective configuration of each service (secrets redacted)",
  usage: "config show [--service NAME] [--json]",
  details: "Reads NIMBUS_* from the environment and the file named by NIMBUS_CONFIG, as the services do.",
  options: { service: { type: "string" } },
  async run(ctx, v) {
    const results = evaluate(ctx, v.service);
    if (ctx.json) return ctx.out(JSON.stringify(Object.fromEntries(results.map((r) => [r.name, r.values ?? { error: r.problems }])), null, 2)), 0;
    for (const r of results) {
      ctx.out(`[${r.name}]`);
      for (const p of r.problems ?? []) ctx.out(`  ${p.key}: INVALID — ${p.problem}`);
      for (const [k, val] of Object.entries(r.values ?? {})) ctx.out(`  ${k}=${Array.isArray(val) ? val.join(",") : String(val)}`);
    }
    return 0;
  },
};

export const configCheck: Command = {
  name: "config check",
  summary: "validate the configuration of each service; exit 1 naming each bad key",
  usage: "config check [--service NAME] [--json]",
  options: { service: { type: "string" } },
  async run(ctx, v) {
    const problems = evaluate(ctx, v.service).flatMap((r) => (r.problems ?? []).map((p) => ({ service: r.name, ...p })));
    if (ctx.json) ctx.out(JSON.stringify({ ok: problems.length === 0, problems }, null, 2));
    else if (problems.length) for (const p of problems) ctx.err(`${p.service}: ${p.key}: ${p.problem}`);
    else ctx.out("configuration is valid");
    return problems.length ? 1 : 0;
  },
};
