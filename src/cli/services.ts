/**
 * Every process's settings, by service name: for `nimbus config`, and the README's table. Each
 * entry is everything that process loads (test/core/readme.test.ts fails on a declared setting that
 * no service here lists).
 */
import type { SettingsSpec } from "../core/config/settings.ts";
import { controlSettings } from "../control/config.ts";
import { logSettings } from "../logs/config.ts";
import { agentSettings } from "../agents/settings.ts";
import { cacheSettings } from "../cache/config.ts";
import { registrySettings } from "../registry/config.ts";
import { githubAgentSettings } from "../github/config.ts";

export const SERVICES: Record<string, SettingsSpec> = {
  control: controlSettings,
  logs: logSettings,
  // The agent reads both, once, at start (agent/main.ts).
  agent: { ...agentSettings, ...githubAgentSettings },
  cache: cacheSettings,
  registry: registrySettings,
};
