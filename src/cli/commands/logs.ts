import { TERMINAL, type JobRecord } from "../../jobs/record.ts";
import { parseRunnerName } from "../../jobs/runner-names.ts";
import type { ApiClient, LogLineOut } from "../client.ts";
import type { CliContext } from "../context.ts";
import type { Command } from "../command.ts";

export function printLine(ctx: CliContext, l: LogLineOut): void {
  if (ctx.json) return ctx.out(JSON.stringify(l));
  // stdout carries only the job's stdout; its stderr and Nimbus's own lines (timeouts, boot) go to stderr.
  if (l.stream === "out") process.stdout.write(l.text + "\n");
  else process.stderr.write(l.text + "\n");
}

/**
 * Stream a job's logs until they end; a cut stream resumes where it was (see followSse). The job's
 * record is checked too: a job that ended without an end marker (cancelled before it ran, say) stops
 * the follow after a short grace.
 */
export async function followJobLogs(ctx: CliContext, api: ApiClient, jobId: string, offset = 0): Promise<number> {
  let seen = offset;
  const abort = new AbortController();
  const pause = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      abort.signal.addEventListener("abort", () => (clearTimeout(t), r()), { once: true });
    });
  const watcher = (async () => {
    for (;;) {
      await pause(1000);
      if (abort.signal.aborted) return;
      const { job } = await api.get<{ job: JobRecord }>(`/api/jobs/${encodeURIComponent(jobId)}`).catch(() => ({ job: null as JobRecord | null }));
      if (job && TERMINAL.has(job.state)) {
        const before = seen;
        await pause(1500);
        if (seen === before) return abort.abort();
      }
    }
  })();
  try {
    const onResume = (cause: string) => ctx.json || ctx.err(`nimbus: log stream interrupted (${cause}); resuming after line ${seen}`);
    for await (const l of api.followLogs(jobId, offset, { signal: abort.signal, onResume })) {
      printLine(ctx, l);
      seen++;
    }
  } catch (e) {
    if (!abort.signal.aborted) throw e;
  } finally {
    abort.abort();
    await watcher.catch(() => {});
  }
  return seen;
}

/** A GitHub job that ran on a runner another job started: that runner's output is logged under the other job. */
export function borrowedRunner(job: Pick<JobRecord, "id" | "github">): { runnerName: string; jobId: string; attempt: number } | null {
  const name = job.github?.ranOn?.runnerName;
  const owner = parseRunnerName(name);
  return name && owner && owner.jobId !== job.id ? { runnerName: name, ...owner } : null;
}

export const logs: Command = {
  name: "logs",
  summary: "print a job's logs (its stdout to stdout; its stderr and Nimbus's notes to stderr)",
  usage: "logs JOB_ID [--follow] [--offset N] [--limit N] [--json]",
  details: `--follow keeps printing new lines until the job's logs end; a dropped connection is resumed
where it left off, and only a log service unreachable for a minute ends it early.`,
  options: { follow: { type: "boolean", short: "f" }, offset: { type: "string" }, limit: { type: "string" } },
  positionals: { min: 1, max: 1, name: "JOB_ID" },
  async run(ctx, v, [id]) {
    const api = await ctx.client();
    const offset = Number(v.offset ?? 0);
    const { job } = await api.get<{ job: JobRecord }>(`/api/jobs/${encodeURIComponent(id!)}`); // 404 for an unknown job, before anything else
    const borrowed = borrowedRunner(job);
    if (borrowed && !ctx.json) ctx.err(`note: GitHub ran this job on runner ${borrowed.runnerName}, started for job ${borrowed.jobId}: its output is in \`nimbus logs ${borrowed.jobId}\` (attempt ${borrowed.attempt})`);
    if (v.follow) {
      await followJobLogs(ctx, api, id!, offset);
      return 0;
    }
    const limit = Number(v.limit ?? 10_000);
    const r = await api.get<{ lines: LogLineOut[] }>(`/v1/jobs/${encodeURIComponent(id!)}/logs?offset=${offset}&limit=${limit}`, api.logsUrl);
    for (const l of r.lines) printLine(ctx, l);
    return 0;
  },
};
