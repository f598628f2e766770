/** One job: what it is, its lifecycle, its logs; cancel while it is not finished. */
import { useEffect, useState } from "react";
import { api, TERMINAL, type Job, type JobEvent } from "../api.ts";
import { LogView } from "../components/LogView.tsx";
import { GithubPanel } from "../components/GithubPanel.tsx";
import { Latency } from "../components/Latency.tsx";
import type { LatencyBreakdown } from "../../../src/github/latency.ts";
import { StateBadge } from "../components/StateBadge.tsx";
import { Timeline } from "../components/Timeline.tsx";
import { ago, jobTiming, shellQuote } from "../format.ts";
import { usePoll } from "../poll.ts";
import { href } from "../router.ts";

export function JobPage({ id, focus }: { id: string; focus?: { attempt: number; n: number } }) {
  const path = `/api/jobs/${encodeURIComponent(id)}`;
  // Once the job is over, its record, events and spans no longer change: each is loaded once more, then
  // the page stops asking.
  const [finished, setFinished] = useState(false);
  const job = usePoll(() => api<{ job: Job }>(path), 1500, [id], !finished);
  const events = usePoll(() => api<{ events: JobEvent[] }>(`${path}/events`), 1500, [id], !finished);
  const latency = usePoll(() => api<LatencyBreakdown>(`${path}/latency`), 1500, [id], !finished);
  useEffect(() => setFinished(!!job.data && job.data.job.id === id && TERMINAL.has(job.data.job.state)), [job.data, id]);
  const [cancelling, setCancelling] = useState<string>();
  const j = job.data?.job;
  if (job.error && !j) return <section><p className="error">{job.error}</p><a href={href.jobs()}>All jobs</a></section>;
  if (!j) return <section><p className="muted">Loading {id}…</p></section>;
  const done = TERMINAL.has(j.state);
  const now = Date.now();
  const cancel = async () => {
    setCancelling("cancelling…");
    try {
      const r = await api<{ pending: boolean }>(`${path}/cancel`, { method: "POST" });
      setCancelling(r.pending ? "cancel requested; the agent is stopping it" : "cancelled");
      job.reload();
    } catch (e) {
      setCancelling((e as Error).message);
    }
  };
  return (
    <section className="job">
      <header className="jobhead">
        <h2 className="mono">{j.id}</h2>
        <StateBadge state={j.state} />
        {!done && <button onClick={cancel} disabled={!!cancelling}>Cancel</button>}
        {cancelling && <span className="muted">{cancelling}</span>}
      </header>
      <dl className="facts">
        <dt>org</dt><dd className="mono" data-org>{j.org}</dd>
        <dt>what</dt><dd className="mono" data-command>{shellQuote(j.command)}</dd>
        <dt>pool</dt><dd className="mono">{j.pool}</dd>
        <dt>labels</dt><dd>{j.labels.join(", ") || "–"}</dd>
        <dt>attempt</dt><dd>{j.github ? j.attempt : `${j.attempt} of ${j.maxAttempts}`}{j.agentId ? ` · on ${j.agentId}` : ""}</dd>
        <dt>created</dt><dd data-time>{ago(j.createdAt, now)} · {jobTiming(j, now)}</dd>
        {j.exitCode !== undefined && <><dt>exit code</dt><dd>{j.exitCode}</dd></>}
        {j.reason && <><dt>reason</dt><dd>{j.reason}</dd></>}
        {j.secrets.length > 0 && <><dt>secrets</dt><dd>{j.secrets.join(", ")} (masked in logs)</dd></>}
      </dl>
      <GithubPanel job={j} />
      <h3>Lifecycle</h3>
      <Latency l={latency.data} />
      {events.data ? <Timeline events={events.data.events} now={done ? j.updatedAt : now} /> : <p className="muted">Loading…</p>}
      <h3>Logs</h3>
      <LogView jobId={j.id} live={!done} focus={focus} />
    </section>
  );
}
