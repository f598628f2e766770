/**
 * Runner operations on GitHub for one Nimbus job, used by the service agents call and by the
 * reconciler: mint the JIT config of the runner named after (job, attempt) — reconciling "a
 * runner with that name exists" instead of failing — remove a runner (refused while busy),
 * and look a job up when its webhooks went missing.
 */
import type { KV } from "@nats-io/kv";
import { AppError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { GithubRef, JobRecord } from "../jobs/record.ts";
import type { GithubClient, RunnerScope } from "./client.ts";
import type { GithubConfig } from "./config.ts";
import { casUpdate, getRunnerFacts, runnerFactsKey, runnerName, type RunnerFacts } from "./facts.ts";

export interface RunnerOpsDeps {
  client: GithubClient;
  github: KV;
  config: GithubConfig;
  log: Logger;
}

export function scopeOf(config: GithubConfig, g: GithubRef): RunnerScope {
  if (config.githubRunnerScope === "org" && g.org) return { installationId: g.installationId, kind: "org", owner: g.org };
  return { installationId: g.installationId, kind: "repo", owner: g.owner, repo: g.repo };
}

export function runnerLabels(config: GithubConfig, job: JobRecord): string[] {
  const seen = new Map<string, string>();
  for (const l of [...config.githubRunnerExtraLabels, ...job.labels]) if (!seen.has(l.toLowerCase())) seen.set(l.toLowerCase(), l);
  return [...seen.values()];
}

export interface MintedRunner {
  runnerName: string;
  runnerId: number;
  encodedJitConfig: string;
}

/** JIT config for the job's current attempt. A leftover runner of the same name (an earlier try whose answer was lost) is removed first. */
export async function mintRunner(deps: RunnerOpsDeps, job: JobRecord): Promise<MintedRunner> {
  const g = job.github;
  if (!g) throw new AppError("bad_request", `job ${job.id} is not a GitHub job`);
  const scope = scopeOf(deps.config, g);
  const name = runnerName(job.id, job.attempt);
  const spec = { name, labels: runnerLabels(deps.config, job), runnerGroupId: deps.config.githubRunnerGroupId };
  for (let tries = 0; tries < 2; tries++) {
    const r = await deps.client.generateJitConfig(scope, spec);
    if (r.status !== 409) {
      await casUpdate<RunnerFacts>(deps.github, runnerFactsKey(name), (cur) => ({
        ...(cur ?? { runnerName: name, jobId: job.id, attempt: job.attempt, createdAt: Date.now() }),
        runnerId: r.runner!.id,
      }));
      return { runnerName: name, runnerId: r.runner!.id, encodedJitConfig: r.encodedJitConfig! };
    }
    const old = await deps.client.findRunner(scope, name);
    if (old) {
      const removed = await deps.client.removeRunner(scope, old.id);
      if (removed === "busy") throw new AppError("conflict", `runner ${name} already exists and is running a job`, { runnerName: name });
      deps.log.info("leftover runner of the same name removed", { runnerName: name, runnerId: old.id });
    }
  }
  throw new AppError("conflict", `runner name ${name} stays taken on GitHub`);
}

/** Remove the runner of (job, attempt) from GitHub. Never based on the busy flag: GitHub refuses to remove a busy runner. */
export async function removeRunner(deps: RunnerOpsDeps, job: JobRecord, name: string): Promise<"removed" | "gone" | "busy"> {
  const g = job.github;
  if (!g) return "gone";
  const scope = scopeOf(deps.config, g);
  const facts = await getRunnerFacts(deps.github, name);
  const id = facts?.runnerId ?? (await deps.client.findRunner(scope, name))?.id;
  if (!id) return "gone";
  return deps.client.removeRunner(scope, id);
}
