/**
 * Where the control plane stores ended GitHub jobs' own logs: the log service, as attempt 0 of the job,
 * through the same door agents use — a recorded agent token of its own (`github-logs`, minted at first
 * use and again before it expires) and a log credential for the job's attempt 0 with the job's org and
 * fields. Batches of 5,000 lines, the last with the end marker; a resend stores nothing twice.
 */
import { AppError } from "../core/errors.ts";
import { bootstrapToken, type MintDeps } from "../auth/mint.ts";
import { mintLogCredential, LOG_CREDENTIAL_HEADER } from "../auth/log-credential.ts";
import { jobMetaOf } from "../jobs/job-meta.ts";
import { orgOf } from "../jobs/org.ts";
import type { JobRecord } from "../jobs/record.ts";
import type { LogLine } from "../protocol/log-batch.ts";
import type { JobLogSink } from "../github/job-log-sync.ts";

export const GITHUB_LOGS_AGENT = "github-logs";
const TOKEN_TTL_SECONDS = 30 * 86_400;
const BATCH = 5000;

export function githubLogSink(o: { logsUrl: string; tokens: MintDeps }): JobLogSink {
  let token: { value: string; expiresAt: number } | undefined;
  const agentToken = async () => {
    if (!token || token.expiresAt - Date.now() / 1000 < 86_400) {
      const m = await bootstrapToken(o.tokens, { sub: GITHUB_LOGS_AGENT, role: "agent", agentId: GITHUB_LOGS_AGENT, ttlSeconds: TOKEN_TTL_SECONDS });
      token = { value: m.token, expiresAt: Date.parse(m.entry.expiresAt) / 1000 };
    }
    return token.value;
  };
  const base = o.logsUrl.replace(/\/+$/, "");
  return {
    async store(job: JobRecord, lines: LogLine[]) {
      const credential = await mintLogCredential(o.tokens.secret, { jobId: job.id, attempt: 0, agentId: GITHUB_LOGS_AGENT, org: orgOf(job), meta: jobMetaOf(job), ttlSeconds: 3600 });
      const bearer = await agentToken();
      const exitCode = job.state === "succeeded" ? 0 : (job.exitCode ?? 1);
      for (let i = 0; i === 0 || i < lines.length; i += BATCH) {
        const last = i + BATCH >= lines.length;
        const batch = { jobId: job.id, attempt: 0, lines: lines.slice(i, i + BATCH), ...(last ? { end: { lines: lines.length, exitCode } } : {}) };
        const r = await fetch(`${base}/v1/logs`, {
          method: "POST",
          headers: { authorization: `Bearer ${bearer}`, [LOG_CREDENTIAL_HEADER]: credential, "content-type": "application/json" },
          body: JSON.stringify(batch),
          signal: AbortSignal.timeout(30_000),
        }).catch((e: Error) => {
          throw new AppError("unavailable", `the log service at ${base} cannot be reached: ${e.message}`);
        });
        if (!r.ok) throw new AppError("unavailable", `the log service refused job ${job.id}'s GitHub log: ${r.status} ${(await r.text()).slice(0, 200)}`);
        await r.body?.cancel().catch(() => {});
      }
    },
  };
}
