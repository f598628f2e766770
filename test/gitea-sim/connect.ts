/**
 * The simulator's runner API at /api/actions: ping.v1.PingService and runner.v1.RunnerService over
 * the real Connect protocol (@connectrpc/connect: binary protobuf and Connect JSON), with Gitea's
 * rules: x-runner-uuid / x-runner-token on every call but Register (else Unauthenticated), a task
 * updated only by the runner it was given to (else PermissionDenied), bodies over the limit refused.
 */
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { stringify } from "yaml";
import { PingService } from "../../src/gitea/gen/ping/v1/services_pb.ts";
import { RunnerService } from "../../src/gitea/gen/runner/v1/services_pb.ts";
import { RunnerSchema, TaskSchema, TaskStateSchema, type Runner } from "../../src/gitea/gen/runner/v1/messages_pb.ts";
import type { GiteaModel, SimRunner, SimTask } from "./model.ts";

export const RUNNER_API_PREFIX = "/api/actions";
/** Connect's own limit on a request body, as Gitea leaves it to its HTTP server. */
export const MAX_RPC_BYTES = 4 * 1024 * 1024;

export interface RpcStats {
  calls: Record<string, number>;
  /** Content types seen, so tests can tell the encodings apart. */
  encodings: Record<string, number>;
}

function runnerMsg(r: SimRunner, withToken: boolean): Runner {
  return create(RunnerSchema, { id: BigInt(r.id), uuid: r.uuid, token: withToken ? r.token : "", name: r.name, labels: r.labels, ephemeral: r.ephemeral, version: r.version, status: 1 });
}

export function runnerRoutes(model: GiteaModel, stats: RpcStats, baseUrl: () => string) {
  const count = (m: string, ctx: HandlerContext) => {
    stats.calls[m] = (stats.calls[m] ?? 0) + 1;
    const ct = ctx.requestHeader.get("content-type") ?? "";
    stats.encodings[ct] = (stats.encodings[ct] ?? 0) + 1;
  };
  const authed = (m: string, ctx: HandlerContext): SimRunner => {
    count(m, ctx);
    const r = model.runnerByCredentials(ctx.requestHeader.get("x-runner-uuid"), ctx.requestHeader.get("x-runner-token"));
    if (!r) throw new ConnectError("unregistered runner", Code.Unauthenticated);
    return r;
  };
  const ownTask = (r: SimRunner, id: bigint): SimTask => {
    const t = model.tasks.get(Number(id));
    if (!t) throw new ConnectError(`task ${id} not found`, Code.NotFound);
    if (t.runnerId !== r.id) throw new ConnectError("invalid runner for task", Code.PermissionDenied);
    return t;
  };
  const taskMsg = (t: SimTask) => {
    const job = model.jobs.get(t.jobId)!;
    const workflow = { name: job.repo, on: "push", jobs: { [job.name]: { name: job.name, "runs-on": job.labels, steps: job.steps } } };
    return create(TaskSchema, {
      id: BigInt(t.id),
      workflowPayload: new TextEncoder().encode(stringify(workflow)),
      context: { repository: job.repo, run_id: String(job.runId), job: job.name, gitea_runtime_token: t.runtimeToken, server_url: baseUrl(), token: t.runtimeToken },
      secrets: { GITEA_TOKEN: t.runtimeToken },
      vars: {},
    });
  };

  return (router: ConnectRouter) => {
    router.service(PingService, {
      ping(req, ctx) {
        count("Ping", ctx);
        return { data: `Hello, ${req.data}!` };
      },
    });
    router.service(RunnerService, {
      register(req, ctx) {
        count("Register", ctx);
        if (!req.name || req.name.length > 255) throw new ConnectError("runner name must be 1-255 characters", Code.InvalidArgument);
        const r = model.register({ name: req.name, token: req.token, labels: req.labels, ephemeral: req.ephemeral, version: req.version });
        if (!r) throw new ConnectError("runner registration token not found", Code.Unauthenticated);
        return { runner: runnerMsg(r, true) };
      },
      declare(req, ctx) {
        const r = authed("Declare", ctx);
        Object.assign(r, { version: req.version, labels: req.labels });
        return { runner: runnerMsg(r, false) };
      },
      fetchTask(req, ctx) {
        const r = authed("FetchTask", ctx);
        const { task, version } = model.fetch(r, req.tasksVersion);
        return { task: task ? taskMsg(task) : undefined, tasksVersion: BigInt(version) };
      },
      updateLog(req, ctx) {
        const r = authed("UpdateLog", ctx);
        const t = ownTask(r, req.taskId);
        return { ackIndex: BigInt(model.appendLog(t, Number(req.index), req.rows.map((row) => row.content), req.noMore)) };
      },
      updateTask(req, ctx) {
        const r = authed("UpdateTask", ctx);
        if (!req.state) throw new ConnectError("state is required", Code.InvalidArgument);
        const t = ownTask(r, req.state.id);
        Object.assign(t.outputs, req.outputs);
        if (req.state.result !== 0 && !t.result) model.finish(t, req.state.result);
        else if (req.state.result !== 0) t.finals++;
        return {
          state: create(TaskStateSchema, { id: BigInt(t.id), result: t.result, stoppedAt: t.result ? timestampFromDate(new Date()) : undefined }),
          sentOutputs: Object.keys(t.outputs),
        };
      },
    });
  };
}
