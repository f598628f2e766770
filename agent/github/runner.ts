/**
 * The agent's side of a GitHub job's runner: asking the control plane for the runner's JIT config
 * (with stored backoff), watching what GitHub says about the runner and the job, removing the
 * runner before its sandbox/VM is destroyed, and the runner's heartbeat. Used by the GitHub steps
 * (agent/github/steps.ts). What the control plane shares with it (facts, service subjects, runner
 * names) stays in src/github.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { isAppError } from "../../src/core/errors.ts";
import type { Logger } from "../../src/core/log.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { jitter } from "../../src/github/client.ts";
import type { GithubAgentConfig } from "../../src/github/config.ts";
import { jobFactsKey, runnerFactsKey, touchRunner, type JobFacts, type RunnerFacts } from "../../src/github/facts.ts";
import { callGithubService, SUBJECTS } from "../../src/github/service.ts";
import type { MintedRunner } from "../../src/github/runners.ts";

export interface GithubAgentDeps {
  nc: NatsConnection;
  github: KV;
  config: GithubAgentConfig;
  /** The VM image has a runner baked in at /runner (read at agent start): VM jobs use it, no mount. */
  bakedRunner?: boolean;
}

export const JIT_ENV = "ACTIONS_RUNNER_INPUT_JITCONFIG";

/** Where NIMBUS_GITHUB_RUNNER_DIR appears inside a sandbox or VM (read-only). */
export const RUNNER_MOUNT_TARGET = "/runner";

/**
 * The runner directory as a mount, when the agent has one; none for a microVM whose image has the
 * runner baked in (the image's own /runner is the one the job runs).
 */
export function runnerMounts(config: Pick<GithubAgentConfig, "githubRunnerDir">, vmWithBakedRunner = false): { source: string; target: string }[] {
  return config.githubRunnerDir && !vmWithBakedRunner ? [{ source: config.githubRunnerDir, target: RUNNER_MOUNT_TARGET }] : [];
}

/** Ask for the runner's JIT config, retrying while GitHub is unavailable or rate-limited, until `deadlineMs`. */
export async function requestRunner(d: GithubAgentDeps, req: { jobId: string; attempt: number; agentId: string }, deadlineMs: number, log: Logger): Promise<MintedRunner> {
  const until = Date.now() + deadlineMs;
  for (let i = 0; ; i++) {
    try {
      return await callGithubService<MintedRunner>(d.nc, SUBJECTS.jit, req);
    } catch (e) {
      const retryable = isAppError(e, "unavailable") || isAppError(e, "rate_limited");
      const wait = Math.max(jitter(d.config.githubRetryBaseMs * 2 ** Math.min(i, 6)), Number((isAppError(e) && e.details?.retryAfterMs) || 0));
      if (!retryable || Date.now() + wait > until) throw e;
      log.info("runner config not available yet; retrying", { error: (e as Error).message, waitMs: wait });
      await Bun.sleep(wait);
    }
  }
}

/** Remove the runner from GitHub; `busy` means GitHub gave it a job (keep it). Retries while GitHub is unreachable. */
export async function removeRunnerVia(d: GithubAgentDeps, jobId: string, runnerName: string, tries = 5): Promise<"removed" | "gone" | "busy" | "unknown"> {
  for (let i = 0; i < tries; i++) {
    try {
      return await callGithubService<"removed" | "gone" | "busy">(d.nc, SUBJECTS.remove, { jobId, runnerName });
    } catch (e) {
      if (!isAppError(e, "unavailable") && !isAppError(e, "rate_limited")) throw e;
      await Bun.sleep(jitter(d.config.githubRetryBaseMs * 2 ** i));
    }
  }
  return "unknown";
}

/** Live view of the facts of one GitHub job and one runner; `onChange` is called on every update. */
export class RunnerWatch {
  job: JobFacts | null = null;
  runner: RunnerFacts | null = null;
  private stopWatch: () => void = () => {};

  static async open(kv: KV, ghJobId: number, runnerName: string, onChange: () => void): Promise<RunnerWatch> {
    const w = new RunnerWatch();
    const jobKey = jobFactsKey(ghJobId);
    // One watch per key: nats-server 2.9 takes a single filter subject.
    const its = await Promise.all([kv.watch({ key: jobKey }), kv.watch({ key: runnerFactsKey(runnerName) })]);
    w.stopWatch = () => its.forEach((it) => it.stop());
    for (const it of its)
      (async () => {
        for await (const e of it) {
          if (e.operation !== "PUT" || !e.value.length) continue;
          if (e.key === jobKey) w.job = e.json<JobFacts>();
          else w.runner = e.json<RunnerFacts>();
          onChange();
        }
      })();
    return w;
  }

  stop(): void {
    this.stopWatch();
  }
}

/** Heartbeat of a runner the agent holds, until stopped (then its exit is recorded). */
export function runnerHeartbeat(d: GithubAgentDeps, name: string, jobId: string, attempt: number): { stop(): Promise<void> } {
  const beat = () => touchRunner(d.github, name, jobId, attempt, { aliveAt: Date.now() }).catch(() => {});
  void beat();
  const t = setInterval(beat, d.config.githubRunnerHeartbeatMs);
  return {
    async stop() {
      clearInterval(t);
      await touchRunner(d.github, name, jobId, attempt, { exitedAt: Date.now() }).catch(() => {});
    },
  };
}

/** Backoff before the next runner attempt after a failure: exponential with jitter, stored in the record. */
export function nextAttemptAt(job: JobRecord, baseMs: number): number {
  const failures = job.github?.runnerFailures ?? 0;
  return Date.now() + jitter(baseMs * 2 ** Math.min(failures, 8));
}
