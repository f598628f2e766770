/** Every process's settings, by service name: for `nimbus config`, and the README's table. */
import type { SettingsSpec } from "../core/config/settings.ts";
import { controlSettings } from "../control/config.ts";
import { logSettings } from "../logs/config.ts";
import { agentSettings } from "../agents/settings.ts";
import { cacheSettings } from "../cache/config.ts";

export const SERVICES: Record<string, SettingsSpec> = {
  control: controlSettings,
  logs: logSettings,
  agent: agentSettings,
  cache: cacheSettings,
};
