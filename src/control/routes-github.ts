/** GitHub routes: the webhook (records intent only) and read-only views; a thin layer over src/github. */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { explainLabels } from "../jobs/labels.ts";
import { publicJob } from "../jobs/record.ts";
import { getJobFacts, getRunnerFacts } from "../github/facts.ts";
import { intakeDelivery } from "../github/intake.ts";
import { checkSignatureHeader } from "../github/webhook.ts";
import { readBodyText } from "../http/common.ts";
import { latencyBreakdown } from "../github/latency.ts";
import { githubRuntime } from "../github/runtime.ts";
import { authorize } from "../auth/principal.ts";
import type { ControlContext } from "./context.ts";
import { jobFor } from "./access.ts";

export const WEBHOOK_PATH = "/webhooks/github";
/** GitHub caps webhook payloads at 25 MB. */
export const WEBHOOK_MAX_BYTES = 25 * 1024 * 1024;

export function githubRoutes(ctx: ControlContext) {
  const gh = githubRuntime(ctx);
  return new Elysia({ name: "github" })
    .post(
      WEBHOOK_PATH,
      async ({ request, set }) => {
        if (!gh.verifier) throw new AppError("not_found", "GitHub integration is off (NIMBUS_GITHUB_WEBHOOK_SECRET is empty)");
        checkSignatureHeader(request.headers); // 401 before a byte of an unsigned body is read
        const body = await readBodyText(request, WEBHOOK_MAX_BYTES);
        const delivery = await gh.verifier.check(request.headers, body);
        const r = await intakeDelivery(gh.intake, delivery);
        set.status = r.status;
        return r.body;
      },
      { parse: "none" },
    )
    .group("/api", (app) =>
      app
        .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
        .get("/labels/explain", ({ query, principal }) => {
          authorize(principal, "jobs:read");
          const raw = query.labels ?? "";
          const labels = String(raw).split(",").map((s) => s.trim()).filter(Boolean);
          if (!labels.length) throw new AppError("validation_failed", "labels: give them comma-separated, e.g. ?labels=nimbus,docker", { field: "labels" });
          return { baseLabel: gh.labels.baseLabel, ...explainLabels(labels, gh.labels) };
        })
        .get("/jobs/:id/latency", async ({ params, principal }) => {
          const job = (await jobFor(ctx.store, principal, params.id, "jobs:read")).value;
          const facts = job.github ? await getJobFacts(ctx.topology.github, job.github.jobId) : null;
          return latencyBreakdown(job, facts);
        })
        .get("/github/jobs/:id", async ({ params, principal }) => {
          const job = (await jobFor(ctx.store, principal, params.id, "jobs:read")).value;
          if (!job.github) throw new AppError("not_found", `job ${params.id} did not come from GitHub`);
          const facts = await getJobFacts(ctx.topology.github, job.github.jobId);
          const runners = await Promise.all(job.github.runners.map((r) => getRunnerFacts(ctx.topology.github, r.runnerName)));
          return { job: publicJob(job), facts, runners: runners.filter(Boolean), latency: latencyBreakdown(job, facts) };
        })
        // The platform's GitHub integration as a whole (the reconciler's totals span every org): operators.
        .get("/github/status", ({ principal }) => {
          authorize(principal, "metrics:read");
          return {
            enabled: gh.enabled,
            apiUrl: gh.config.githubApiUrl,
            runnerScope: gh.config.githubRunnerScope,
            reconciler: gh.reconciler ? { ...gh.reconciler.totals } : null,
          };
        }),
    );
}
