/**
 * Loads one process's configuration once, at start: the optional file named by NIMBUS_CONFIG
 * (JSON or TOML, keys are the environment variable names), overridden by the environment.
 * Any invalid or missing key stops the process with a message naming the key; secrets are
 * registered for redaction and never echoed.
 */
import * as v from "valibot";
import { readFileSync, existsSync } from "node:fs";
import { AppError } from "../errors.ts";
import { registerSecret } from "../log.ts";
import type { ConfigOf, SettingsSpec } from "./settings.ts";

export type Source = Record<string, string | undefined>;

export class ConfigError extends AppError {
  constructor(readonly problems: { key: string; problem: string }[]) {
    super(
      "validation_failed",
      "invalid configuration:\n" + problems.map((p) => `  ${p.key}: ${p.problem}`).join("\n"),
      { problems },
    );
    this.name = "ConfigError";
  }
}

export function readConfigFile(path: string): Source {
  if (!existsSync(path)) throw new ConfigError([{ key: "NIMBUS_CONFIG", problem: `file not found: ${path}` }]);
  const text = readFileSync(path, "utf8");
  let parsed: unknown;
  try {
    parsed = path.endsWith(".toml") ? Bun.TOML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError([{ key: "NIMBUS_CONFIG", problem: `cannot parse ${path}: ${(e as Error).message}` }]);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new ConfigError([{ key: "NIMBUS_CONFIG", problem: `${path} must hold an object of NIMBUS_* keys` }]);
  const out: Source = {};
  for (const [k, val] of Object.entries(parsed as Record<string, unknown>)) {
    // A list of words is a comma list; structured values (NIMBUS_FORGES) stay JSON.
    out[k] = Array.isArray(val) && val.every((x) => typeof x !== "object") ? val.join(",") : val && typeof val === "object" ? JSON.stringify(val) : String(val);
  }
  return out;
}

/** Merge file and environment: environment wins. Only the keys the spec knows are looked at. */
export function configSource(env: Source = process.env): Source {
  const file = env.NIMBUS_CONFIG ? readConfigFile(env.NIMBUS_CONFIG) : {};
  return { ...file, ...env };
}

export function loadConfig<S extends SettingsSpec>(spec: S, source: Source = configSource()): ConfigOf<S> {
  const problems: { key: string; problem: string }[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(spec)) {
    const raw = source[setting.env] ?? setting.default;
    if (raw === undefined) {
      problems.push({ key: setting.env, problem: "is required but not set" });
      continue;
    }
    const result = v.safeParse(setting.schema, raw);
    if (!result.success) {
      const shown = setting.secret ? "" : ` (got ${JSON.stringify(raw)})`;
      problems.push({ key: setting.env, problem: result.issues[0]!.message + shown });
      continue;
    }
    if (setting.secret) registerSecret(raw);
    out[name] = result.output;
  }
  if (problems.length) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/** The configuration as text for `nimbus config show`: secrets shown as "[redacted]". */
export function describeConfig<S extends SettingsSpec>(spec: S, config: ConfigOf<S>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(spec)) {
    const value = (config as Record<string, unknown>)[name];
    out[setting.env] = setting.secret ? (value ? "[redacted]" : "") : value;
  }
  return out;
}
