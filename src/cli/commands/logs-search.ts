/** `nimbus logs search` and `nimbus logs histogram`: an organisation's logs across its jobs (docs/logs.md). */
import { UsageError, type CliContext } from "../context.ts";
import type { Command } from "../command.ts";
import type { ApiClient } from "../client.ts";
import type { SearchHit } from "../../protocol/log-search.ts";

/** A line as /v1/logs/search returns it. */
type Hit = SearchHit;

const QUERY_HELP = `QUERY: words (substring, any case), "a phrase", /regex/ (RE2 subset; (?i) for any case),
field:value with org (operators), repo, workflow, job (name or id), step, branch, level
(error, warning, notice, info, debug), agent, status (succeeded, failed, running, ended);
a value with * is a glob (repo:acme/*), field:/regex/ a pattern. Terms side by side must all
match; OR, NOT or -term, and parentheses combine them.`;

function where(h: Hit): string {
  return [h.repo, h.workflow && h.job ? `${h.workflow} / ${h.job}` : h.job || h.workflow].filter(Boolean).join(" ");
}

function printHit(ctx: CliContext, h: Hit): void {
  if (ctx.json) return ctx.out(JSON.stringify(h));
  const at = new Date(h.ts).toISOString().replace("T", " ").slice(0, 19);
  // The job and line a hit came from, then the line: `nimbus logs JOB --offset` shows its surroundings.
  ctx.out(`${at} ${h.jobId}#${h.attempt}:${h.n + 1}${h.level !== "info" ? ` [${h.level}]` : ""} ${where(h)}${h.step ? ` · ${h.step}` : ""}\n    ${h.text}`);
}

const params = (q: string, v: Record<string, unknown>, extra: Record<string, string> = {}) =>
  new URLSearchParams({ q, ...(v.since ? { since: String(v.since) } : {}), ...(v.until ? { until: String(v.until) } : {}), ...(v.org ? { org: String(v.org) } : {}), ...extra });

async function follow(ctx: CliContext, api: ApiClient, q: string, org: string | undefined): Promise<number> {
  const onResume = (cause: string) => ctx.json || ctx.err(`nimbus: live search interrupted (${cause}); resumed: lines stored while it was cut are not shown (search them with --since)`);
  for await (const e of api.followSearch<{ hit?: Hit; skipped?: number }>(q, org, { onResume })) {
    if (e.hit) printHit(ctx, e.hit);
    else if (e.skipped) ctx.err(`nimbus: ${e.skipped} matching lines were dropped: this terminal read them slower than they came`);
  }
  return 0;
}

export const logsSearch: Command = {
  name: "logs search",
  summary: "search the logs of every job of your organisation",
  usage: "logs search QUERY [--since 24h] [--until TIME] [--limit N] [--org ORG] [--follow] [--json]",
  details: `${QUERY_HELP}

Newest lines first; each names its job, attempt and line (\`nimbus logs JOB\` shows it whole).
--since / --until: a duration before now (30m, 24h, 7d), an ISO 8601 time, or ms since epoch
(default: the last 24 hours). --limit: lines to print (default 100; more are fetched page by page).
--follow: print matching lines from every running job as they arrive, until Ctrl-C.
--org: an operator's choice of organisation (default: all of them).`,
  options: { since: { type: "string" }, until: { type: "string" }, limit: { type: "string" }, org: { type: "string" }, follow: { type: "boolean", short: "f" } },
  positionals: { min: 1, name: "QUERY" },
  async run(ctx, v, words) {
    const q = words.join(" ");
    const api = await ctx.client();
    if (v.follow) return follow(ctx, api, q, v.org as string | undefined);
    let want = v.limit === undefined ? 100 : Number(v.limit);
    if (!Number.isInteger(want) || want < 1) throw new UsageError("--limit: must be a whole number of 1 or more");
    let cursor: string | null = null;
    let shown = 0;
    do {
      const page: { lines: Hit[]; next: string | null } = await api.get(`/v1/logs/search?${params(q, v, { limit: String(Math.min(1000, want)), ...(cursor ? { cursor } : {}) })}`, api.logsUrl);
      for (const h of page.lines) printHit(ctx, h);
      shown += page.lines.length;
      want -= page.lines.length;
      cursor = page.next;
    } while (cursor && want > 0);
    if (!ctx.json && shown === 0) ctx.err("no matching lines");
    return 0;
  },
};

export const logsHistogram: Command = {
  name: "logs histogram",
  summary: "count matching log lines per time bucket, by level",
  usage: "logs histogram QUERY [--since 24h] [--until TIME] [--buckets 24] [--org ORG] [--json]",
  details: `${QUERY_HELP}

One row per bucket: its start, the count, then the count per level.`,
  options: { since: { type: "string" }, until: { type: "string" }, buckets: { type: "string" }, org: { type: "string" } },
  positionals: { min: 1, name: "QUERY" },
  async run(ctx, v, words) {
    const api = await ctx.client();
    const r: { since: number; until: number; bucketMs: number; buckets: { t: number; level: string; count: number }[] } = await api.get(
      `/v1/logs/histogram?${params(words.join(" "), v, { buckets: String(v.buckets ?? 24) })}`,
      api.logsUrl,
    );
    if (ctx.json) return ctx.out(JSON.stringify(r)), 0;
    const rows = new Map<number, Map<string, number>>();
    for (const b of r.buckets) (rows.get(b.t) ?? rows.set(b.t, new Map()).get(b.t)!).set(b.level, b.count);
    const width = Math.max(1, ...[...rows.values()].map((m) => String([...m.values()].reduce((a, b) => a + b, 0)).length));
    for (let t = r.since; t < r.until; t += r.bucketMs) {
      const m = rows.get(t) ?? new Map<string, number>();
      const total = [...m.values()].reduce((a, b) => a + b, 0);
      const levels = [...m].sort().map(([l, n]) => `${l} ${n}`).join(", ");
      ctx.out(`${new Date(t).toISOString().replace("T", " ").slice(0, 16)}  ${String(total).padStart(width)}${levels ? `  (${levels})` : ""}`);
    }
    return 0;
  },
};
