/**
 * Live search: lines matching a query from every job of an organisation, as they are ingested.
 * Each follower's query is matched in memory (query/match.ts) against each stored batch; matches
 * queue per follower, bounded: a follower that cannot keep up is told how many lines it missed
 * (`skipped`) rather than holding the service's memory. A line's step is the last `##[group]`
 * header this service saw for its attempt since it started (lines before a follow's start name
 * theirs only if the header came after the service started).
 */
import type { LogBatch } from "../protocol/log-batch.ts";
import { levelOf, stepStarted } from "./line-facts.ts";
import type { Node } from "./query/ast.ts";
import { matches } from "./query/match.ts";
import type { IngestContext, SearchHit } from "./store.ts";

export const MAX_FOLLOWERS = 100;
const QUEUE_MAX = 10_000;
const STEPS_KEPT = 10_000;

export type LiveEvent = { hit: SearchHit } | { skipped: number };

interface Follower {
  query: Node;
  org: string | null;
  queue: LiveEvent[];
  skipped: number;
  wake: (() => void) | null;
}

export class LiveSearch {
  private readonly followers = new Set<Follower>();
  private readonly steps = new Map<string, string>();

  get size(): number {
    return this.followers.size;
  }

  /** Offer a stored batch's inserted lines to every follower. */
  publish(batch: LogBatch, ctx: IngestContext): void {
    const key = `${batch.jobId}\0${batch.attempt}`;
    let step = this.steps.get(key) ?? "";
    const hits: SearchHit[] = [];
    for (const l of batch.lines) {
      step = stepStarted(l.text) ?? step;
      if (!this.followers.size) continue;
      hits.push({ ...l, attempt: batch.attempt, jobId: batch.jobId, org: ctx.org, repo: ctx.meta.repo, workflow: ctx.meta.workflow, job: ctx.meta.jobName, branch: ctx.meta.branch, step, level: levelOf(l.text, l.stream), agent: ctx.agent, status: batch.end ? (batch.end.exitCode === undefined ? "ended" : batch.end.exitCode === 0 ? "succeeded" : "failed") : "running" });
    }
    this.steps.delete(key);
    if (this.steps.size >= STEPS_KEPT) this.steps.delete(this.steps.keys().next().value!);
    if (!batch.end) this.steps.set(key, step);
    for (const f of this.followers) {
      if (f.org !== null && f.org !== ctx.org) continue;
      for (const hit of hits) {
        if (!matches(f.query, hit)) continue;
        if (f.queue.length >= QUEUE_MAX) f.skipped++;
        else f.queue.push({ hit });
      }
      f.wake?.();
    }
  }

  /** Matches from now on until `signal` aborts. */
  async *follow(query: Node, org: string | null, signal: AbortSignal): AsyncGenerator<LiveEvent> {
    const f: Follower = { query, org, queue: [], skipped: 0, wake: null };
    this.followers.add(f);
    const onAbort = () => f.wake?.();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal.aborted) {
        if (f.skipped) {
          yield { skipped: f.skipped };
          f.skipped = 0;
        }
        const batch = f.queue.splice(0, f.queue.length);
        for (const e of batch) yield e;
        if (!batch.length)
          await new Promise<void>((r) => {
            f.wake = r;
            if (f.queue.length || f.skipped || signal.aborted) r();
          });
        f.wake = null;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.followers.delete(f);
    }
  }
}
