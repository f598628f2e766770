/** Where a GitHub job lives on GitHub, the runners Nimbus started for it and what each one took. */
import type { Job } from "../api.ts";
import { parseRunnerName } from "../../../src/jobs/runner-names.ts";
import { href } from "../router.ts";

/** The runner that ran it, and (when another job started that runner) where its output is. */
function RanOn({ job }: { job: Job }) {
  const name = job.github?.ranOn?.runnerName;
  if (!name) return <>–</>;
  const owner = parseRunnerName(name);
  if (!owner || owner.jobId === job.id) return <span className="mono">{name}</span>;
  return (
    <span data-testid="borrowed">
      <span className="mono">{name}</span>, started for <a href={href.job(owner.jobId)}>{owner.jobId}</a>: its output is in that job's logs (attempt {owner.attempt})
    </span>
  );
}

export function GithubPanel({ job }: { job: Job }) {
  const g = job.github;
  if (!g) return null;
  return (
    <dl className="facts github">
      <dt>GitHub job</dt>
      <dd>
        {g.htmlUrl && /^https?:\/\//.test(g.htmlUrl) ? <a href={g.htmlUrl} rel="noreferrer">{g.owner}/{g.repo} · {g.workflowName ?? "workflow"} / {g.jobName ?? g.jobId}</a> : `${g.owner}/${g.repo} · job ${g.jobId}`}
        {` · run ${g.runId}${g.runAttempt > 1 ? ` (attempt ${g.runAttempt})` : ""} · heard by ${g.via}`}
      </dd>
      <dt>conclusion</dt><dd>{g.conclusion ?? "not yet"}</dd>
      <dt>ran on</dt><dd><RanOn job={job} /></dd>
      <dt>runners</dt>
      <dd>
        {g.runners.length === 0 ? "none started yet" : (
          <ul className="runners">
            {g.runners.map((r) => (
              <li key={r.runnerName} className="mono">
                {r.runnerName} (attempt {r.attempt}){r.tookJobId === undefined ? " · not assigned" : r.tookJobId === g.jobId ? " · took this job" : ` · took GitHub job ${r.tookJobId}`}{r.outcome ? ` · ${r.outcome}` : ""}
              </li>
            ))}
          </ul>
        )}
        {g.runnerFailures > 0 && <span className="error"> {g.runnerFailures} runner failure{g.runnerFailures === 1 ? "" : "s"} of {g.failureBudget} allowed</span>}
      </dd>
    </dl>
  );
}
