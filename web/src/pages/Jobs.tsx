/** The job list, newest first, filtered by state (and, for an operator, by org); refreshed every 2 s. */
import { api, inOrg, type Job } from "../api.ts";
import { StateBadge } from "../components/StateBadge.tsx";
import { ago, jobTiming, shellQuote } from "../format.ts";
import { usePoll } from "../poll.ts";
import { href } from "../router.ts";

const FILTERS = ["", "queued", "running", "succeeded", "failed", "cancelled", "timed_out", "awaiting_github", "stuck"];

/** `org`: an operator's chosen org ("" for the token's own view); `allOrgs`: the list spans orgs, so it names each job's. */
export function JobsPage({ state, org, allOrgs }: { state?: string; org: string; allOrgs: boolean }) {
  const q = inOrg(state ? `?state=${state}&limit=200` : "?limit=200", org);
  const { data, error } = usePoll(() => api<{ jobs: Job[] }>(`/api/jobs${q}`), 2000, [q]);
  const now = Date.now();
  return (
    <section>
      <nav className="filters">
        {FILTERS.map((f) => (
          <a key={f || "all"} href={href.jobs(f || undefined)} className={(state ?? "") === f ? "on" : ""}>{f ? f.replace(/_/g, " ") : "all"}</a>
        ))}
      </nav>
      {error && <p className="error">{error}</p>}
      {data && data.jobs.length === 0 && <p className="empty">No jobs{state ? ` in state ${state.replace(/_/g, " ")}` : ""} yet. Submit one with <code>nimbus run -- echo hi</code>.</p>}
      {data && data.jobs.length > 0 && (
        <table className="jobs">
          <thead>
            <tr><th>job</th>{allOrgs && <th>org</th>}<th>what</th><th>state</th><th>pool</th><th>attempt</th><th>created</th><th>time</th></tr>
          </thead>
          <tbody>
            {data.jobs.map((j) => (
              <tr key={j.id} data-job={j.id}>
                <td><a href={href.job(j.id)}>{j.id}</a></td>
                {allOrgs && <td className="mono" data-org>{j.org}</td>}
                <td className="what">{j.github ? `${j.github.owner}/${j.github.repo} · ${j.name ?? j.github.jobId}` : (j.name ?? shellQuote(j.command))}</td>
                <td><StateBadge state={j.state} /></td>
                <td className="mono">{j.pool}</td>
                <td>{j.github ? j.attempt : `${j.attempt}/${j.maxAttempts}`}</td>
                <td title={new Date(j.createdAt).toISOString()}>{ago(j.createdAt, now)}</td>
                <td data-time>{jobTiming(j, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
