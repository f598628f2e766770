/**
 * What GitHub has told us, kept apart from the job record: the record belongs to whoever holds
 * the job's lease, while facts arrive at any time (webhooks, polls). Facts only move forward:
 * a late or reordered `in_progress` never undoes a `completed`.
 *
 * Keys in the `nimbus_github` bucket: `job.<githubJobId>`, `runner.<runnerName token>`, `installation.<id>`
 * (a name from input is bounded by src/nats/keys.ts).
 */
import type { KV } from "@nats-io/kv";
import { unlessCasLost } from "../nats/errors.ts";
import { keyOf } from "../nats/keys.ts";

export type GhStatus = "queued" | "in_progress" | "completed";
export const RANK: Record<GhStatus, number> = { queued: 0, in_progress: 1, completed: 2 };

export interface JobFacts {
  ghJobId: number;
  status: GhStatus;
  conclusion?: string | null;
  runnerName?: string | null;
  runnerId?: number | null;
  /** ms since epoch, from GitHub's payload when it has them, else when we learnt them. */
  queuedAt?: number;
  inProgressAt?: number;
  completedAt?: number;
  /** When we learnt the current status. */
  learntAt: number;
}

export interface RunnerFacts {
  runnerName: string;
  runnerId?: number;
  /** The Nimbus job and attempt this runner was started for. */
  jobId: string;
  attempt: number;
  /** The GitHub job GitHub gave it (from `in_progress`). */
  tookJobId?: number;
  createdAt: number;
  /** Heartbeat of the agent that holds the runner's sandbox/VM, and when the runner exited. */
  aliveAt?: number;
  exitedAt?: number;
}

export interface InstallationFacts {
  id: number;
  account: string;
  /** Repositories seen in deliveries, `owner/name`. */
  repos: string[];
  seenAt: number;
}

export const jobFactsKey = (ghJobId: number) => `job.${ghJobId}`;
/** A runner name comes from webhooks (any runner, any length): bounded by keyOf; ours are kept as they are. */
export const runnerFactsKey = (name: string) => keyOf("runner", name);
export const installationKey = (id: number) => `installation.${id}`;

/** The Nimbus job id of a GitHub workflow job. */
export const ghJobKey = (ghJobId: number) => `gh-${ghJobId}`;
import { parseRunnerName } from "../jobs/runner-names.ts";
export { RUNNER_PREFIX, runnerName, parseRunnerName } from "../jobs/runner-names.ts";

/** Merge a new observation into what we knew; returns null when nothing changes. */
export function mergeJobFacts(cur: JobFacts | null, obs: JobFacts): JobFacts | null {
  if (!cur) return obs;
  const next: JobFacts = { ...cur };
  if (RANK[obs.status] > RANK[cur.status]) {
    next.status = obs.status;
    next.learntAt = obs.learntAt;
  }
  for (const k of ["conclusion", "runnerName", "runnerId", "queuedAt", "inProgressAt", "completedAt"] as const) {
    if (next[k] == null && obs[k] != null) (next as unknown as Record<string, unknown>)[k] = obs[k];
  }
  return JSON.stringify(next) === JSON.stringify(cur) ? null : next;
}

const enc = new TextEncoder();

export async function readJson<T>(kv: KV, key: string): Promise<{ value: T; revision: number } | null> {
  const e = await kv.get(key);
  if (!e || e.operation !== "PUT" || e.value.length === 0) return null;
  return { value: e.json<T>(), revision: e.revision };
}

/**
 * Read-modify-write with compare-and-set, retried on a lost race (facts are merged, so a retry
 * re-reads and re-merges; this is not a blind retry). `change` returns null for "no change".
 */
export async function casUpdate<T>(kv: KV, key: string, change: (cur: T | null) => T | null, tries = 20): Promise<T | null> {
  for (let i = 0; i < tries; i++) {
    const cur = await readJson<T>(kv, key);
    const next = change(cur?.value ?? null);
    if (next === null) return cur?.value ?? null;
    const data = enc.encode(JSON.stringify(next));
    if ((await unlessCasLost(cur ? kv.update(key, data, cur.revision) : kv.create(key, data))) !== null) return next;
  }
  throw new Error(`could not update ${key}: too much contention`);
}

export const recordJobFacts = (kv: KV, obs: JobFacts) => casUpdate<JobFacts>(kv, jobFactsKey(obs.ghJobId), (cur) => mergeJobFacts(cur, obs));

export async function getJobFacts(kv: KV, ghJobId: number): Promise<JobFacts | null> {
  return (await readJson<JobFacts>(kv, jobFactsKey(ghJobId)))?.value ?? null;
}

export async function getRunnerFacts(kv: KV, name: string): Promise<RunnerFacts | null> {
  return (await readJson<RunnerFacts>(kv, runnerFactsKey(name)))?.value ?? null;
}

/** Record that GitHub gave runner `name` the job `ghJobId` (only for runners Nimbus started). */
export async function recordAssignment(kv: KV, name: string, ghJobId: number, runnerId?: number | null): Promise<void> {
  const parsed = parseRunnerName(name);
  if (!parsed) return;
  await casUpdate<RunnerFacts>(kv, runnerFactsKey(name), (cur) => {
    if (cur?.tookJobId !== undefined) return null;
    return { ...(cur ?? { runnerName: name, ...parsed, createdAt: Date.now() }), tookJobId: ghJobId, runnerId: cur?.runnerId ?? runnerId ?? undefined };
  });
}

export async function noteInstallation(kv: KV, id: number, account: string, repo: string): Promise<void> {
  await casUpdate<InstallationFacts>(kv, installationKey(id), (cur) => {
    if (cur && cur.repos.includes(repo) && Date.now() - cur.seenAt < 60_000) return null;
    const repos = cur ? (cur.repos.includes(repo) ? cur.repos : [...cur.repos, repo]) : [repo];
    return { id, account, repos, seenAt: Date.now() };
  });
}

export async function listInstallations(kv: KV): Promise<InstallationFacts[]> {
  const out: InstallationFacts[] = [];
  for await (const key of await kv.keys("installation.*")) {
    const v = await readJson<InstallationFacts>(kv, key);
    if (v) out.push(v.value);
  }
  return out;
}

/** Heartbeat or exit of a runner, written by the agent that holds its sandbox/VM. */
export async function touchRunner(kv: KV, name: string, jobId: string, attempt: number, patch: { aliveAt?: number; exitedAt?: number }): Promise<void> {
  await casUpdate<RunnerFacts>(kv, runnerFactsKey(name), (cur) => ({ ...(cur ?? { runnerName: name, jobId, attempt, createdAt: Date.now() }), ...patch }));
}
