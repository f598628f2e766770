/**
 * Log search across the jobs of the organisation in view: the query box (the language of docs/logs.md),
 * a histogram of matching lines per time bucket and level, and the lines, newest first, each opening its
 * job at that line. Errors in a query show the server's message (it names the position).
 */
import { useEffect, useState } from "react";
import { api, inOrg } from "../api.ts";
import { href } from "../router.ts";
import type { SearchHit } from "../../../src/protocol/log-search.ts";

type Hit = SearchHit;
interface Histogram {
  since: number;
  until: number;
  bucketMs: number;
  buckets: { t: number; level: string; count: number }[];
}

const RANGES = ["1h", "6h", "24h", "7d", "30d"];

function Bars({ h }: { h: Histogram }) {
  const totals = new Map<number, { total: number; error: number }>();
  for (const b of h.buckets) {
    const x = totals.get(b.t) ?? { total: 0, error: 0 };
    x.total += b.count;
    if (b.level === "error") x.error += b.count;
    totals.set(b.t, x);
  }
  const max = Math.max(1, ...[...totals.values()].map((x) => x.total));
  const cols = [];
  for (let t = h.since; t < h.until; t += h.bucketMs) cols.push(t);
  return (
    <div className="histogram" data-testid="histogram" aria-label="matching lines over time">
      {cols.map((t) => {
        const x = totals.get(t) ?? { total: 0, error: 0 };
        return (
          <div key={t} className="bar" title={`${new Date(t).toLocaleString()}: ${x.total} lines, ${x.error} errors`}>
            <div className="all" style={{ height: `${(x.total / max) * 100}%` }}>
              <div className="err" style={{ height: x.total ? `${(x.error / x.total) * 100}%` : 0 }} />
            </div>
          </div>
        );
      })}
    </div>
  );
}

export function LogsPage({ org, q: initial }: { org: string; q?: string }) {
  const [q, setQ] = useState(initial ?? "");
  const [since, setSince] = useState("24h");
  const [submitted, setSubmitted] = useState(initial ?? "");
  const [hits, setHits] = useState<Hit[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [hist, setHist] = useState<Histogram>();
  const [error, setError] = useState<string>();
  const params = (extra: Record<string, string> = {}) => new URLSearchParams({ q: submitted, since, ...extra }).toString();

  useEffect(() => {
    if (!submitted.trim()) return;
    setError(undefined);
    Promise.all([api<{ lines: Hit[]; next: string | null }>(inOrg(`/api/logs/search?${params({ limit: "100" })}`, org)), api<Histogram>(inOrg(`/api/logs/histogram?${params({ buckets: "48" })}`, org))]).then(
      ([s, h]) => (setHits(s.lines), setNext(s.next), setHist(h)),
      (e: Error) => (setError(e.message), setHits([]), setHist(undefined)),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [submitted, since, org]);

  const more = () =>
    api<{ lines: Hit[]; next: string | null }>(inOrg(`/api/logs/search?${params({ limit: "100", cursor: next! })}`, org)).then((s) => (setHits((h) => [...h, ...s.lines]), setNext(s.next)), (e: Error) => setError(e.message));

  return (
    <section className="logsearch">
      <form className="logbar" onSubmit={(e) => (e.preventDefault(), setSubmitted(q.trim()), (location.hash = href.logs(q.trim())))}>
        <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder={'level:error repo:acme/* "npm ERR!" -flaky'} aria-label="log search query" />
        <select value={since} onChange={(e) => setSince(e.target.value)} aria-label="time range">
          {RANGES.map((r) => <option key={r} value={r}>last {r}</option>)}
        </select>
        <button type="submit" disabled={!q.trim()}>Search</button>
      </form>
      <p className="muted">Words, "phrases", /regex/, field:value (repo, workflow, job, step, branch, level, agent, status), -exclude, OR, parentheses.</p>
      {error && <p className="error" data-testid="search-error">{error}</p>}
      {hist && <Bars h={hist} />}
      {submitted && !error && <p className="muted" data-testid="hit-count">{hits.length}{next ? "+" : ""} matching line{hits.length === 1 ? "" : "s"}</p>}
      <div className="hits" role="list">
        {hits.map((h) => (
          <a key={`${h.jobId}-${h.attempt}-${h.n}`} role="listitem" className={`hit ${h.level}`} href={href.job(h.jobId, h.attempt, h.n)}>
            <span className="when">{new Date(h.ts).toLocaleString()}</span>
            <span className="where">{[h.repo, [h.workflow, h.job].filter(Boolean).join(" / ") || h.jobId, h.step].filter(Boolean).join(" · ")} <span className="muted">line {h.n + 1}</span></span>
            <code className="t">{h.text}</code>
          </a>
        ))}
      </div>
      {next && <button onClick={more}>More</button>}
    </section>
  );
}
