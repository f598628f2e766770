/** What every CLI command gets: global flags, output helpers and (lazily) an API client. */
import { AppError } from "../core/errors.ts";
import { defaultDataDir, readState, isAlive, type StackState } from "../up/state.ts";
import { ApiClient } from "./client.ts";

export interface CliContext {
  dataDir: string;
  json: boolean;
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  /** The running local stack's state, or the one named by NIMBUS_URL/NIMBUS_TOKEN. */
  client(): Promise<ApiClient>;
}

export class UsageError extends Error {}

export function makeContext(dataDirFlag: string | undefined, json: boolean, env = process.env): CliContext {
  const dataDir = dataDirFlag ? defaultDataDir({ NIMBUS_DATA_DIR: dataDirFlag }) : defaultDataDir(env);
  return {
    dataDir,
    json,
    env,
    out: (t) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"),
    err: (t) => process.stderr.write(t.endsWith("\n") ? t : t + "\n"),
    async client() {
      if (env.NIMBUS_URL) {
        if (!env.NIMBUS_TOKEN) throw new AppError("unauthorized", "NIMBUS_URL is set but NIMBUS_TOKEN is not: set an admin token (nimbus token mint)");
        const info = await ApiClient.info(env.NIMBUS_URL);
        return new ApiClient(env.NIMBUS_URL, env.NIMBUS_LOGS_URL || info.logsUrl, env.NIMBUS_TOKEN, env.NIMBUS_CACHE_URL, env.NIMBUS_REGISTRY_URL || info.registryUrl);
      }
      const state: StackState | null = readState(dataDir);
      if (!state)
        throw new AppError("unavailable", `no Nimbus stack found in ${dataDir}: start one with \`nimbus up\` (or set NIMBUS_URL and NIMBUS_TOKEN)`);
      if (!isAlive(state.pid))
        throw new AppError("unavailable", `the Nimbus stack recorded in ${dataDir} is not running (pid ${state.pid} is gone): start it with \`nimbus up\``);
      return new ApiClient(state.controlUrl, state.logsUrl, env.NIMBUS_TOKEN || state.adminToken, env.NIMBUS_CACHE_URL || state.cacheUrl, env.NIMBUS_REGISTRY_URL || state.registryUrl);
    },
  };
}
