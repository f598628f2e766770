/**
 * The agent's side of a Gitea/Forgejo job's runner: ask the control plane for the runner (it
 * registers it and answers the `.runner` file; the forge's tokens stay there), hand the file to the
 * job's sandbox/VM through a secret env value the job's command writes to `.runner` before it execs the
 * runner, and have the runner deleted at teardown.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { isAppError } from "../src/core/errors.ts";
import type { Logger } from "../src/core/log.ts";
import { callForgeService, FORGE_SUBJECTS, type ForgeRunnerRequest } from "../src/gitea/agent-service.ts";
import type { MintedForgeRunner } from "../src/gitea/runners.ts";

export interface ForgeAgentDeps {
  nc: NatsConnection;
  /** NIMBUS_FORGE_RUNNER_DIR: mounted read-only at FORGE_RUNNER_MOUNT when set. */
  runnerDir: string;
}

export const FORGE_RUNNER_MOUNT = "/forge-runner";
export const RUNNER_FILE_ENV = "NIMBUS_FORGE_RUNNER_FILE";

export function forgeRunnerMounts(d: ForgeAgentDeps): { source: string; target: string }[] {
  return d.runnerDir ? [{ source: d.runnerDir, target: FORGE_RUNNER_MOUNT }] : [];
}

/** The job's command, run after the `.runner` file is written (owner-only) into its working directory. */
export function withRunnerFile(command: string[]): string[] {
  return ["sh", "-c", `umask 077 && printf '%s' "$${RUNNER_FILE_ENV}" > .runner && unset ${RUNNER_FILE_ENV} && exec "$@"`, "nimbus-forge-runner", ...command];
}

/** Ask for the runner, retrying while the control plane or the forge is unavailable, until `deadlineMs`. */
export async function requestForgeRunner(d: ForgeAgentDeps, req: ForgeRunnerRequest, deadlineMs: number, log: Logger): Promise<MintedForgeRunner> {
  const until = Date.now() + deadlineMs;
  for (let i = 0; ; i++) {
    try {
      return await callForgeService<MintedForgeRunner>(d.nc, FORGE_SUBJECTS.runner, req);
    } catch (e) {
      const wait = Math.min(100 * 2 ** i, 5_000) * (0.5 + Math.random());
      if (!isAppError(e, "unavailable") || Date.now() + wait > until) throw e;
      log.info("forge runner not available yet; retrying", { error: (e as Error).message, waitMs: wait });
      await Bun.sleep(wait);
    }
  }
}

/** Delete the runner at teardown (best effort: the forge drops an ephemeral runner whose task is done anyway). */
export async function removeForgeRunnerVia(d: ForgeAgentDeps, req: ForgeRunnerRequest, log: Logger): Promise<void> {
  await callForgeService<number>(d.nc, FORGE_SUBJECTS.remove, req, 10_000).catch((e) => log.warn("forge runner not removed", { error: (e as Error).message }));
}
