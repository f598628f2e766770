/**
 * One conformance suite for every log backend: the same batches in, the same answers out — and
 * every search's answer equal to the in-memory matcher's over the same lines (query/match.ts), so
 * the backends agree with each other and with live follows.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { LogBatch } from "../../src/protocol/log-batch.ts";
import { parseQuery } from "../../src/logs/query/parse.ts";
import { matches } from "../../src/logs/query/match.ts";
import { levelOf } from "../../src/logs/line-facts.ts";
import type { IngestContext, LogStore, SearchHit } from "../../src/logs/store.ts";

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);

interface Job {
  id: string;
  ctx: IngestContext;
  lines: string[];
  exit?: number;
}

const JOBS: Job[] = [
  { id: "j-suite-a1", ctx: { org: "acme", agent: "agent-1", meta: { repo: "acme/app", workflow: "CI", jobName: "build", branch: "main" } }, exit: 0,
    lines: ["##[group]Run actions/checkout@v4", "Syncing repository: acme/app", "##[endgroup]", "##[group]Run npm test", "> app@1.0.0 test", "PASS src/a.test.js", "Tests: 12 passed", "##[endgroup]"] },
  { id: "j-suite-a2", ctx: { org: "acme", agent: "agent-2", meta: { repo: "acme/app", workflow: "CI", jobName: "lint", branch: "feature/x" } }, exit: 1,
    lines: ["##[group]Run npm run lint", "src/x.ts: 3:1 error no-unused-vars", "##[error]Process completed with exit code 1.", "100% of files checked_ok"] },
  { id: "j-suite-a3", ctx: { org: "acme", agent: "agent-1", meta: { repo: "acme/infra", workflow: "Deploy", jobName: "deploy", branch: "release-1.2" } },
    lines: ["::warning file=main.tf::deprecated attribute", "Applying changes", "timeout waiting for lock", "TIMEOUT again"] },
  { id: "j-suite-b1", ctx: { org: "globex", agent: "agent-9", meta: { repo: "globex/api", workflow: "CI", jobName: "build", branch: "main" } }, exit: 2,
    lines: ["##[group]Run make", "error: undefined reference to `main'", "'); drop table lines; --", "npm ERR! code ELIFECYCLE"] },
];

function batches(): { batch: LogBatch; ctx: IngestContext }[] {
  return JOBS.map((j, k) => ({
    ctx: j.ctx,
    batch: {
      jobId: j.id,
      attempt: 1,
      lines: j.lines.map((text, n) => ({ n, ts: T0 + k * 60_000 + n * 1000, stream: n === 1 && k === 1 ? "err" : "out", text })),
      ...(j.exit === undefined ? {} : { end: { lines: j.lines.length, exitCode: j.exit } }),
    } as LogBatch,
  }));
}

/** What the in-memory matcher says a query selects, as job:n keys, newest first. */
function expected(q: string, org: string | null): string[] {
  const tree = parseQuery(q);
  const out: { key: string; ts: number; job: string; n: number }[] = [];
  batches().forEach(({ batch, ctx }) => {
    let step = "";
    for (const l of batch.lines) {
      const g = /^##\[group\](.*)$/.exec(l.text);
      if (g) step = g[1]!;
      if (org !== null && ctx.org !== org) continue;
      const status = batch.end ? (batch.end.exitCode === 0 ? "succeeded" : "failed") : "running";
      const facts = { org: ctx.org, repo: ctx.meta.repo, workflow: ctx.meta.workflow, job: ctx.meta.jobName, jobId: batch.jobId, step, branch: ctx.meta.branch, level: levelOf(l.text, l.stream), agent: ctx.agent, status, text: l.text };
      if (matches(tree, facts)) out.push({ key: `${batch.jobId}:${l.n}`, ts: l.ts, job: batch.jobId, n: l.n });
    }
  });
  return out.sort((a, b) => b.ts - a.ts || (a.job < b.job ? 1 : -1) || b.n - a.n).map((x) => x.key);
}

const keys = (hits: SearchHit[]) => hits.map((h) => `${h.jobId}:${h.n}`);
const ALL = { since: T0 - 3_600_000, until: T0 + 3_600_000 };

export function backendConformance(name: string, open: () => Promise<LogStore>, close?: () => Promise<void>): void {
  describe(`${name} log backend`, () => {
    let store: LogStore;
    beforeAll(async () => {
      store = await open();
      for (const { batch, ctx } of batches()) expect((await store.ingest(batch, ctx)).inserted).toBe(batch.lines.length);
    }, 60_000);
    afterAll(async () => {
      await store?.close();
      await close?.();
    });

    test("ingest is idempotent: a resent batch stores nothing twice", async () => {
      const { batch, ctx } = batches()[0]!;
      expect((await store.ingest(batch, ctx)).inserted).toBe(0);
      expect(await store.count(batch.jobId)).toBe(batch.lines.length);
    });

    test("a large batch, then one overlapping it: only the new lines are stored, in order (before the other tests' time range)", async () => {
      const ctx = { org: "acme", agent: "agent-1", meta: { repo: "", workflow: "", jobName: "", branch: "" } };
      const mk = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ n: from + i, ts: T0 - 7_200_000 + from + i, stream: "out" as const, text: `bulk line ${from + i}` }));
      expect((await store.ingest({ jobId: "j-suite-bulk", attempt: 1, lines: mk(0, 250) }, ctx)).inserted).toBe(250);
      expect((await store.ingest({ jobId: "j-suite-bulk", attempt: 1, lines: mk(200, 301) }, ctx)).inserted).toBe(51);
      expect(await store.count("j-suite-bulk")).toBe(301);
      expect((await store.read("j-suite-bulk", 0, 1000)).map((l) => l.n)).toEqual(Array.from({ length: 301 }, (_, i) => i));
    });

    test("a job's lines in order, its org, whether it ended, its own text search", async () => {
      const lines = await store.read("j-suite-a2", 1, 2);
      expect(lines.map((l) => [l.attempt, l.n, l.stream, l.text])).toEqual([[1, 1, "err", "src/x.ts: 3:1 error no-unused-vars"], [1, 2, "out", "##[error]Process completed with exit code 1."]]);
      expect(await store.orgOf("j-suite-b1")).toBe("globex");
      expect(await store.orgOf("j-suite-none")).toBeNull();
      expect(await store.ended("j-suite-a1")).toBe(true);
      expect(await store.ended("j-suite-a3")).toBe(false);
      expect((await store.searchJob("j-suite-a3", "TIMEOUT", 10)).map((l) => l.n)).toEqual([2, 3]);
      expect((await store.lines("j-suite-a1", 1, 3, 5)).map((l) => l.text)).toEqual(["##[group]Run npm test", "> app@1.0.0 test", "PASS src/a.test.js"]);
      expect(await store.lines("j-suite-a1", 2, 0, 100)).toEqual([]);
    });

    test("each line's fields: the job's, the attempt's status, the line's level and step", async () => {
      const [hit] = await store.search({ query: parseQuery('"Process completed"'), org: "acme", ...ALL, limit: 10 });
      expect(hit).toMatchObject({ jobId: "j-suite-a2", attempt: 1, n: 2, org: "acme", repo: "acme/app", workflow: "CI", job: "lint", branch: "feature/x", agent: "agent-2", level: "error", step: "Run npm run lint", status: "failed" });
      const [warn] = await store.search({ query: parseQuery("deprecated"), org: "acme", ...ALL, limit: 10 });
      expect(warn).toMatchObject({ level: "warning", status: "running", step: "" });
    });

    const QUERIES = [
      "error", "ERROR", '"exit code 1"', "npm", "npm -lint", "repo:acme/app", "repo:acme/*", "repo:*/app", "workflow:ci", "job:build", "job:j-suite-a3",
      'step:"Run npm test"', "branch:/^release-/", "branch:main -repo:globex/*", "level:error", "level:warning OR level:error", "agent:agent-1 timeout",
      "status:failed", "status:running", "status:succeeded PASS", "/^Tests: \\d+ passed$/", "/(?i)^timeout/", "(error OR warning) -level:error",
      "100%", "checked_ok", '"\'); drop table lines; --"', "NOT /./", "org:acme", "org:globex", "zzz-nothing",
    ];

    test("every query answers what the in-memory matcher says, for one org and for all", async () => {
      for (const q of QUERIES)
        for (const org of ["acme", "globex", null]) {
          const got = keys(await store.search({ query: parseQuery(q), org, ...ALL, limit: 1000 }));
          expect({ q, org, got }).toEqual({ q, org, got: expected(q, org) });
        }
    });

    test("time bounds; pages by cursor cover the answer once, newest first", async () => {
      const within = await store.search({ query: parseQuery("/./"), org: "acme", since: T0 + 60_000, until: T0 + 120_000, limit: 100 });
      expect(new Set(within.map((h) => h.jobId))).toEqual(new Set(["j-suite-a2"]));
      const all = expected("/./", null);
      const pages: string[] = [];
      let after: Parameters<LogStore["search"]>[0]["after"];
      for (;;) {
        const page = await store.search({ query: parseQuery("/./"), org: null, ...ALL, limit: 3, after });
        pages.push(...keys(page));
        if (page.length < 3) break;
        const last = page.at(-1)!;
        after = { ts: last.ts, jobId: last.jobId, attempt: last.attempt, n: last.n };
      }
      expect(pages).toEqual(all);
    });

    test("the histogram counts what the search finds, per bucket and level", async () => {
      const buckets = await store.histogram({ query: parseQuery("error OR warning OR timeout"), org: "acme", ...ALL, bucketMs: 60_000 });
      const found = await store.search({ query: parseQuery("error OR warning OR timeout"), org: "acme", ...ALL, limit: 1000 });
      expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(found.length);
      for (const b of buckets) {
        expect(b.t % 60_000).toBe(0);
        expect(b.count).toBe(found.filter((h) => h.level === b.level && Math.floor(h.ts / 60_000) * 60_000 === b.t).length);
      }
      expect(buckets.map((b) => b.level).sort()).toContain("error");
    });
  });
}
