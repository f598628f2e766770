/**
 * Runs the unmodified @actions/cache (test/cache/support/driver.mjs) in a Node child process with
 * exactly the environment a runner gives a JavaScript action, and returns its answer and log.
 */
import { resolve } from "node:path";

const DRIVER = resolve(import.meta.dir, "driver.mjs");

export type Protocol = "v1" | "v2";

export interface ClientEnv {
  protocol: Protocol;
  url: string;
  token: string;
  workspace: string;
  temp: string;
  extra?: Record<string, string>;
}

export function actionsEnv(c: ClientEnv): Record<string, string> {
  const base = c.url.endsWith("/") ? c.url : c.url + "/";
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    ACTIONS_RUNTIME_TOKEN: c.token,
    RUNNER_TEMP: c.temp,
    GITHUB_WORKSPACE: c.workspace,
    SEGMENT_DOWNLOAD_TIMEOUT_MINS: "1",
  };
  if (c.protocol === "v2") Object.assign(env, { ACTIONS_CACHE_SERVICE_V2: "true", ACTIONS_RESULTS_URL: base });
  else env.ACTIONS_CACHE_URL = base;
  return { ...env, ...c.extra };
}

export interface ClientRun {
  result: string | number | null;
  log: string;
  ms: number;
}

export async function runClient(env: Record<string, string>, req: { op: "save" | "restore"; paths: string[]; key: string; restoreKeys?: string[] }, wrap: string[] = []): Promise<ClientRun> {
  const t = performance.now();
  const proc = Bun.spawn([...wrap, "node", DRIVER, JSON.stringify(req)], { env, cwd: resolve(import.meta.dir), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const log = out + err;
  const m = /NIMBUS_RESULT (.*)/.exec(out);
  if (code !== 0 || !m) throw new Error(`@actions/cache ${req.op} exited ${code}:\n${log}`);
  return { result: JSON.parse(m[1]!).result, log, ms: performance.now() - t };
}
