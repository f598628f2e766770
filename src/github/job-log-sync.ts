/**
 * The workflow's own output for GitHub jobs: once a GitHub job has ended, its log is fetched from
 * GitHub (src/github/client.ts `jobLog`) and stored in the log service as attempt 0 of the job, with
 * the job's org, repository, workflow, name and branch, so it is read, followed and searched like any
 * other. GitHub often has no log for a few seconds after a job completes (404): the fetch is retried
 * with backoff, then given up (logged). Run by the reconciler's leader each tick; what it has done is
 * kept in memory, so a new leader asks again for jobs ended in the last day (storing is idempotent).
 */
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { LogLine } from "../protocol/log-batch.ts";
import { TERMINAL, type JobRecord } from "../jobs/record.ts";
import type { GithubClient } from "./client.ts";
import { parseJobLog } from "./job-log.ts";

/** Waits between fetches of a log GitHub does not have yet (ms, at the default NIMBUS_GITHUB_RETRY_BASE_MS of 1 s; scaled with it). */
export const RETRY_MS = [3_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000];
const MAX_LOG_BYTES = 64 * 1024 * 1024;
const WITHIN_MS = 86_400_000;
const MAX_PER_TICK = 20;

export interface JobLogSink {
  /** Store a job's attempt-0 lines (all of them, with the end), idempotently. */
  store(job: JobRecord, lines: LogLine[]): Promise<void>;
}

export interface JobLogSyncDeps {
  client: Pick<GithubClient, "jobLog">;
  jobs: () => Iterable<JobRecord>;
  sink: JobLogSink;
  log: Logger;
  now?: () => number;
  retryMs?: number[];
}

type State = { tries: number; nextAt: number; done: boolean };

export class JobLogSync {
  private readonly state = new Map<string, State>();
  readonly totals = { stored: 0, notYet: 0, failed: 0, gaveUp: 0 };

  constructor(private readonly d: JobLogSyncDeps) {}

  /** Fetch and store the logs of ended GitHub jobs that are due; returns how many were stored. */
  async sync(): Promise<number> {
    const now = this.d.now?.() ?? Date.now();
    const retry = this.d.retryMs ?? RETRY_MS;
    let stored = 0;
    let tried = 0;
    for (const job of this.d.jobs()) {
      if (tried >= MAX_PER_TICK) break;
      if (job.source !== "github" || !job.github || !TERMINAL.has(job.state) || now - job.updatedAt > WITHIN_MS) continue;
      const s = this.state.get(job.id) ?? { tries: 0, nextAt: 0, done: false };
      if (s.done || s.nextAt > now) continue;
      tried++;
      const gh = job.github;
      try {
        const got = await this.d.client.jobLog(gh.installationId, gh.owner, gh.repo, gh.jobId, MAX_LOG_BYTES);
        if (got) {
          await this.d.sink.store(job, parseJobLog(got.text, job.updatedAt));
          if (got.truncated) this.d.log.warn("GitHub job log cut at the size bound", { jobId: job.id, maxBytes: MAX_LOG_BYTES });
          s.done = true;
          stored++;
          this.totals.stored++;
        } else {
          this.totals.notYet++;
          s.tries++;
        }
      } catch (e) {
        this.totals.failed++;
        s.tries++;
        this.d.log.warn("GitHub job log not stored", { jobId: job.id, error: errorMessage(e) });
      }
      if (!s.done) {
        if (s.tries > retry.length) {
          s.done = true;
          this.totals.gaveUp++;
          this.d.log.warn("GitHub job log given up", { jobId: job.id, tries: s.tries });
        } else s.nextAt = now + retry[s.tries - 1]!;
      }
      this.state.set(job.id, s);
    }
    if (this.state.size > 100_000) for (const [id, s] of this.state) if (s.done) this.state.delete(id);
    return stored;
  }
}
