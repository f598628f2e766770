/**
 * Live search across log service replicas: each replica announces on NATS which lines it stored
 * (job, attempt, line range, org, agent, the job's fields: never the text), and the others, when they have live
 * searches open, read those lines back from the shared store and offer them to their followers.
 * With the SQLite backend there is one replica and nothing arrives.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../core/log.ts";
import { LOGS_STORED_SUBJECT } from "../nats/topology.ts";
import type { LogBatch } from "../protocol/log-batch.ts";
import type { LiveSearch } from "./live-search.ts";
import type { IngestContext, JobMeta, LogStore } from "./store.ts";

interface Stored {
  replica: string;
  jobId: string;
  attempt: number;
  from: number;
  to: number;
  org: string;
  agent: string;
  meta?: JobMeta;
  end?: { lines: number; exitCode?: number };
}

export interface LiveFanout {
  /** Tell the other replicas about a batch this one stored. */
  announce(batch: LogBatch, ctx: IngestContext): void;
  stop(): void;
}

export function startLiveFanout(nc: NatsConnection, live: LiveSearch, store: LogStore, jobMeta: (id: string) => Promise<JobMeta>, log: Logger): LiveFanout {
  const replica = randomUUID();
  const enc = new TextEncoder();
  const sub = nc.subscribe(LOGS_STORED_SUBJECT, {
    callback: (err, msg) => {
      if (err || !live.size) return;
      let m: Stored;
      try {
        m = msg.json<Stored>();
      } catch {
        return;
      }
      if (m.replica === replica || typeof m.jobId !== "string" || !Number.isInteger(m.from) || !Number.isInteger(m.to) || m.to - m.from > 10_000) return;
      void (async () => {
        const [lines, meta] = await Promise.all([store.lines(m.jobId, m.attempt, m.from, m.to), m.meta ?? jobMeta(m.jobId)]);
        live.publish({ jobId: m.jobId, attempt: m.attempt, lines, ...(m.end ? { end: m.end } : {}) }, { org: m.org, agent: m.agent, meta });
      })().catch((e) => log.warn("live search could not read announced lines", { jobId: m.jobId, error: e }));
    },
  });
  return {
    announce(batch, ctx) {
      if (!batch.lines.length) return;
      const ns = batch.lines.map((l) => l.n);
      const m: Stored = { replica, jobId: batch.jobId, attempt: batch.attempt, from: Math.min(...ns), to: Math.max(...ns), org: ctx.org, agent: ctx.agent, meta: ctx.meta, ...(batch.end ? { end: batch.end } : {}) };
      try {
        nc.publish(LOGS_STORED_SUBJECT, enc.encode(JSON.stringify(m)));
      } catch (e) {
        log.warn("could not announce stored lines", { error: e });
      }
    },
    stop: () => sub.unsubscribe(),
  };
}
