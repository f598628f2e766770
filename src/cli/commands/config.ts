import { configSource, describeConfig, loadConfig, ConfigError } from "../../core/config/load.ts";
import type { SettingsSpec } from "../../core/config/settings.ts";
import { AppError } from "../../core/errors.ts";
import { SERVICES } from "../services.ts";
import type { Command } from "../command.ts";

function pick(name: unknown): [string, SettingsSpec][] {
  if (name === undefined) return Object.entries(SERVICES);
  const spec = SERVICES[String(name)];
  if (!spec) throw new AppError("bad_request", `--service must be one of ${Object.keys(SERVICES).join(", ")}`);
  return [[String(name), spec]];
}

export const configShow: Command = {
  name: "config show",
  summary: "show the effective configuration of each service (secrets redacted)",
  usage: "config show [--service NAME] [--json]",
  details: "Reads NIMBUS_* from the environment and the file named by NIMBUS_CONFIG, as the services do.",
  options: { service: { type: "string" } },
  async run(ctx, v) {
    const source = configSource(ctx.env);
    const out: Record<string, unknown> = {};
    for (const [name, spec] of pick(v.service)) {
      try {
        out[name] = describeConfig(spec, loadConfig(spec, source));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        out[name] = { error: e.problems };
      }
    }
    if (ctx.json) return ctx.out(JSON.stringify(out, null, 2)), 0;
    for (const [name, values] of Object.entries(out)) {
      ctx.out(`[${name}]`);
      const v2 = values as Record<string, unknown>;
      if (v2.error) for (const p of v2.error as { key: string; problem: string }[]) ctx.out(`  ${p.key}: INVALID — ${p.problem}`);
      else for (const [k, val] of Object.entries(v2)) ctx.out(`  ${k}=${Array.isArray(val) ? val.join(",") : String(val)}`);
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
    const source = configSource(ctx.env);
    const problems: { service: string; key: string; problem: string }[] = [];
    for (const [name, spec] of pick(v.service)) {
      try {
        loadConfig(spec, source);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems.push(...e.problems.map((p) => ({ service: name, ...p })));
      }
    }
    if (ctx.json) ctx.out(JSON.stringify({ ok: problems.length === 0, problems }, null, 2));
    else if (problems.length) for (const p of problems) ctx.err(`${p.service}: ${p.key}: ${p.problem}`);
    else ctx.out("configuration is valid");
    return problems.length ? 1 : 0;
  },
};
