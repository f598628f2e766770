/**
 * The act_runner stand-in: `bun test/gitea-sim/runner.ts daemon --once [--runner-file PATH] [--json]`.
 * Like `act_runner daemon --once` with an ephemeral registration, it reads `.runner`, declares its
 * version and labels, polls FetchTask (tasks_version as act_runner keeps it) until it gets one task,
 * runs the expanded workflow's `run:` steps as shell commands, uploads the log with UpdateLog
 * (resending from the acknowledged index), reports steps and the result with UpdateTask, and exits 0
 * (1 when a step failed). Exits 2 when the forge refuses it (unregistered, or removed while waiting).
 */
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { parse } from "yaml";
import { runnerClients } from "../../src/gitea/runner-client.ts";
import { parseRunnerFile } from "../../src/gitea/runner-file.ts";
import { LogRowSchema, StepStateSchema, type Task } from "../../src/gitea/gen/runner/v1/messages_pb.ts";

const VERSION = "nimbus-standin-0.1";
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (args[0] !== "daemon" || !args.includes("--once")) {
  console.error("usage: runner.ts daemon --once [--runner-file PATH] [--json]");
  process.exit(2);
}
const reg = parseRunnerFile(readFileSync(opt("--runner-file") ?? ".runner", "utf8"));
const address = reg.address.replace("//_gateway:", `//${defaultGateway()}:`);
const { runner } = runnerClients(address, { credentials: { uuid: reg.uuid, token: reg.token }, json: args.includes("--json"), version: VERSION });
const pollMs = Number(process.env.STANDIN_POLL_MS ?? 200);
const fetchDeadline = Date.now() + Number(process.env.STANDIN_FETCH_TIMEOUT_MS ?? 300_000);

/** A runner in a sandbox's namespace or a microVM reaches the simulator on its default gateway. */
function defaultGateway(): string {
  try {
    const route = readFileSync("/proc/net/route", "utf8").split("\n").map((l) => l.trim().split(/\s+/)).find((f) => f[1] === "00000000");
    if (!route) return "_gateway";
    return [3, 2, 1, 0].map((i) => parseInt(route[2]!.slice(i * 2, i * 2 + 2), 16)).join(".");
  } catch {
    return "_gateway";
  }
}

/** A call retried on transport errors (a dropped keep-alive connection, the forge restarting), as act_runner's reporter retries. */
async function retrying<T>(fn: () => Promise<T>, tries = 6): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      const final = e instanceof ConnectError && [Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.NotFound].includes(e.code);
      if (final || i >= tries - 1) throw e;
      await Bun.sleep(100 * 2 ** i);
    }
  }
}

function refused(e: unknown): never {
  const c = e instanceof ConnectError ? Code[e.code] : "error";
  console.error(`runner: refused by the forge (${c}): ${(e as Error).message}`);
  process.exit(2);
}

async function fetchOne(): Promise<Task> {
  await retrying(() => runner.declare({ version: VERSION, labels: reg.labels })).catch(refused);
  let version = 0n;
  while (Date.now() < fetchDeadline) {
    const r = await retrying(() => runner.fetchTask({ tasksVersion: version })).catch((e) => (e instanceof ConnectError && e.code === Code.Unauthenticated ? refused(e) : null));
    if (r?.task) return r.task;
    if (r) version = r.tasksVersion;
    await Bun.sleep(pollMs);
  }
  console.error("runner: no task within the deadline");
  process.exit(2);
}

/** The log: rows go up in order; the forge's ack says where to resume. */
class Log {
  rows: string[] = [];
  acked = 0;
  constructor(private readonly taskId: bigint) {}
  add(line: string) {
    this.rows.push(line);
  }
  async flush(noMore = false) {
    for (let tries = 0; tries < 5; tries++) {
      const rows = this.rows.slice(this.acked).map((content) => create(LogRowSchema, { time: timestampFromDate(new Date()), content }));
      const r = await retrying(() => runner.updateLog({ taskId: this.taskId, index: BigInt(this.acked), rows, noMore }));
      this.acked = Number(r.ackIndex);
      if (this.acked >= this.rows.length) return;
    }
    throw new Error(`log not acknowledged (ack ${this.acked} of ${this.rows.length})`);
  }
}

async function runTask(task: Task): Promise<number> {
  const wf = parse(new TextDecoder().decode(task.workflowPayload ?? new Uint8Array())) as { jobs: Record<string, { steps?: { name?: string; run?: string }[] }> };
  const job = Object.values(wf.jobs ?? {})[0] ?? { steps: [] };
  const log = new Log(task.id);
  const ctx = (task.context ?? {}) as Record<string, unknown>;
  const env = { ...process.env, GITEA_ACTIONS: "true", GITHUB_ACTIONS: "true", GITHUB_RUN_ID: String(ctx.run_id ?? ""), GITHUB_REPOSITORY: String(ctx.repository ?? ""), ACTIONS_RUNTIME_TOKEN: String(ctx.gitea_runtime_token ?? "") };
  const started = new Date();
  const steps = [];
  let result = 1;
  for (const [i, step] of (job.steps ?? []).entries()) {
    const stepStart = new Date();
    const logIndex = log.rows.length;
    log.add(`::group::Run ${step.name ?? step.run ?? `step ${i}`}`);
    let stepResult = 4; // skipped after a failure
    if (result === 1 && step.run) {
      const p = Bun.spawn(["sh", "-c", step.run], { env, stdout: "pipe", stderr: "pipe" });
      const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
      for (const l of (out + err).split("\n").filter(Boolean)) log.add(l);
      process.stdout.write(out);
      process.stderr.write(err);
      stepResult = code === 0 ? 1 : 2;
      if (code !== 0) result = 2;
    }
    log.add("::endgroup::");
    steps.push(create(StepStateSchema, { id: BigInt(i), result: stepResult, startedAt: timestampFromDate(stepStart), stoppedAt: timestampFromDate(new Date()), logIndex: BigInt(logIndex), logLength: BigInt(log.rows.length - logIndex) }));
    await log.flush();
  }
  await log.flush(true);
  // The final state once; act_runner retries it until the forge answers.
  for (let tries = 0; ; tries++) {
    try {
      const r = await runner.updateTask({ state: { id: task.id, result, startedAt: timestampFromDate(started), stoppedAt: timestampFromDate(new Date()), steps }, outputs: {} });
      if (r.state?.stoppedAt) console.log(`runner: task ${task.id} done at ${timestampDate(r.state.stoppedAt).toISOString()}`);
      break;
    } catch (e) {
      if (tries >= 10 || (e instanceof ConnectError && (e.code === Code.PermissionDenied || e.code === Code.Unauthenticated))) refused(e);
      await Bun.sleep(500);
    }
  }
  return result;
}

const task = await fetchOne();
console.log(`runner: ${reg.name} took task ${task.id}`);
process.exit((await runTask(task)) === 1 ? 0 : 1);
