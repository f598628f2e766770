import { AppError } from "../../core/errors.ts";
import { TERMINAL, type JobRecord } from "../../jobs/record.ts";
import type { Command } from "../command.ts";
import type { ApiClient } from "../client.ts";
import { GIVE_UP_MS } from "../sse.ts";
import { followJobLogs } from "./logs.ts";

function pairs(list: unknown, flag: string, env: Record<string, string | undefined>, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (list as string[] | undefined) ?? []) {
    const i = item.indexOf("=");
    if (i > 0) out[item.slice(0, i)] = item.slice(i + 1);
    else if (fromEnv && env[item] !== undefined) out[item] = env[item]!;
    else throw new AppError("bad_request", `--${flag} ${item}: expected NAME=VALUE${fromEnv ? " or the NAME of a set environment variable" : ""}`);
  }
  return out;
}

export function exitCodeOf(job: Pick<JobRecord, "state" | "exitCode">): number {
  if (job.exitCode !== undefined) return job.exitCode;
  return job.state === "succeeded" ? 0 : job.state === "timed_out" ? 124 : job.state === "cancelled" ? 130 : 1;
}

/** Poll the job until it is terminal; a control plane unreachable for less than GIVE_UP_MS is waited out. */
export async function waitTerminal(api: ApiClient, id: string): Promise<JobRecord> {
  let downSince: number | undefined;
  for (;;) {
    try {
      const { job } = await api.get<{ job: JobRecord }>(`/api/jobs/${encodeURIComponent(id)}`);
      if (TERMINAL.has(job.state)) return job;
      downSince = undefined;
    } catch (e) {
      if (!(e instanceof AppError) || e.code !== "unavailable") throw e;
      downSince ??= Date.now();
      if (Date.now() - downSince >= GIVE_UP_MS) throw e;
    }
    await Bun.sleep(200);
  }
}

export const run: Command = {
  name: "run",
  summary: "run a command as a job, stream its output, exit with its exit code",
  usage: "run [--label L]... [--env K=V]... [--secret K[=V]]... [--timeout SECONDS] [--isolation sandbox|vm] [--name NAME] [--idempotency-key KEY] [--detach] -- COMMAND [ARGS...]",
  details: `The job runs on an agent whose capacity matches its labels (default: nimbus). --secret NAME takes
the value from your environment; secret values are masked as *** in the job's logs. Ctrl-C cancels the job.
--detach prints the job id and returns at once. The output is followed until the job ends, however
long it stays silent; a dropped connection is resumed with no line lost or repeated.`,
  options: {
    label: { type: "string", multiple: true },
    env: { type: "string", multiple: true, short: "e" },
    secret: { type: "string", multiple: true },
    timeout: { type: "string" },
    isolation: { type: "string" },
    name: { type: "string" },
    "idempotency-key": { type: "string" },
    detach: { type: "boolean", short: "d" },
  },
  positionals: { min: 1, name: "COMMAND" },
  async run(ctx, v, command) {
    const labels = (v.label as string[] | undefined) ?? ["nimbus"];
    if (v.isolation) labels.push(`isolation:${v.isolation}`);
    const spec = {
      command,
      labels,
      env: pairs(v.env, "env", ctx.env, false),
      secrets: pairs(v.secret, "secret", ctx.env, true),
      ...(v.timeout ? { timeoutSeconds: Number(v.timeout) } : {}),
      ...(v.name ? { name: v.name } : {}),
      ...(v["idempotency-key"] ? { idempotencyKey: v["idempotency-key"] } : {}),
    };
    const api = await ctx.client();
    const { job } = await api.post<{ job: JobRecord }>("/api/jobs", spec);
    if (v.detach) return ctx.out(ctx.json ? JSON.stringify(job, null, 2) : job.id), 0;
    if (!ctx.json) ctx.err(`nimbus: job ${job.id} queued (pool ${job.pool})`);
    const { agents } = await api.get<{ agents: { pools: string[] }[] }>("/api/agents");
    if (!agents.some((a) => a.pools.includes(job.pool)))
      ctx.err(`nimbus: no connected agent serves pool ${job.pool}; the job waits until one does${job.requirements.isolation === "vm" ? " (microVMs: `nimbus up --vm`, or an agent with NIMBUS_AGENT_DRIVERS=sandbox,qemu or sandbox,firecracker)" : ""}`);
    let cancelling = false;
    const onInt = () => {
      if (cancelling) process.exit(130);
      cancelling = true;
      ctx.err(`\nnimbus: cancelling ${job.id} (Ctrl-C again to leave it running)`);
      void api.post(`/api/jobs/${encodeURIComponent(job.id)}/cancel`).catch(() => {});
    };
    process.on("SIGINT", onInt);
    try {
      await followJobLogs(ctx, api, job.id).catch((e) => {
        if (e instanceof AppError && e.code === "unavailable") throw new AppError("unavailable", `${e.message}\nThe job may still be running: nimbus logs ${job.id} --follow`);
        throw e;
      });
      const final = await waitTerminal(api, job.id);
      if (ctx.json) ctx.out(JSON.stringify({ job: final }));
      else if (final.state !== "succeeded") ctx.err(`nimbus: job ${final.id} ${final.state}${final.reason ? `: ${final.reason}` : ""} (exit ${exitCodeOf(final)})`);
      return exitCodeOf(final);
    } finally {
      process.off("SIGINT", onInt);
    }
  },
};
