/**
 * The Gitea simulator speaks the real runner protocol (issue #16 part 2): Connect RPC in binary
 * protobuf and Connect JSON, the runner headers, FetchTask's tasks_version, UpdateLog's ack index,
 * UpdateTask's owner check; malformed, oversized and unauthenticated calls refused; the REST API with
 * its token and a 5xx fault; signed webhooks; and the act_runner stand-in taking one task end to end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { runnerClients } from "../../src/gitea/runner-client.ts";
import { runnerFile } from "../../src/gitea/runner-file.ts";
import { LogRowSchema, RegisterRequestSchema } from "../../src/gitea/gen/runner/v1/messages_pb.ts";
import { startGiteaSim, type GiteaSim } from "../gitea-sim/sim.ts";

const STANDIN = resolve(import.meta.dir, "../gitea-sim/runner.ts");
let sim: GiteaSim;
let hookBodies: { headers: Headers; body: string }[] = [];
let hookServer: ReturnType<typeof Bun.serve>;
const dirs: string[] = [];

beforeAll(async () => {
  hookServer = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async (req) => (hookBodies.push({ headers: req.headers, body: await req.text() }), new Response("ok")) });
  sim = await startGiteaSim({ kind: "forgejo", webhookTarget: `http://127.0.0.1:${hookServer.port}/hook`, webhookSecret: "sim-secret-0123456789abcdef" });
});
afterAll(async () => {
  await sim?.stop();
  hookServer?.stop(true);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return e instanceof ConnectError ? Code[e.code] : String(e);
  }
}

async function registered(json = false, labels = ["nimbus"]) {
  const token = sim.model.registrationToken({ level: "instance" });
  const anon = runnerClients(sim.url, { json });
  const { runner } = await anon.runner.register({ name: `r-${Math.random().toString(36).slice(2, 8)}`, token, version: "test", labels, ephemeral: true });
  return { reg: runner!, c: runnerClients(sim.url, { json, credentials: { uuid: runner!.uuid, token: runner!.token } }) };
}

describe("Connect RPC, both encodings", () => {
  test("Ping answers over binary protobuf and over Connect JSON; the server saw both content types", async () => {
    expect((await runnerClients(sim.url).ping.ping({ data: "bin" })).data).toBe("Hello, bin!");
    expect((await runnerClients(sim.url, { json: true }).ping.ping({ data: "json" })).data).toBe("Hello, json!");
    expect(sim.rpc.encodings["application/proto"]).toBeGreaterThanOrEqual(1);
    expect(sim.rpc.encodings["application/json"]).toBeGreaterThanOrEqual(1);
  });

  test("Register with a reusable token: twice the same token, two runners; a wrong token is Unauthenticated", async () => {
    const a = await registered();
    const b = await registered(true);
    expect(a.reg.uuid).not.toBe(b.reg.uuid);
    expect(a.reg.token.length).toBeGreaterThan(10);
    expect(a.reg.ephemeral).toBe(true);
    expect(await codeOf(runnerClients(sim.url).runner.register({ name: "x", token: "not-the-token", labels: [], ephemeral: true }))).toBe("Unauthenticated");
    expect(await codeOf(runnerClients(sim.url).runner.register({ name: "", token: sim.model.registrationToken({ level: "instance" }) }))).toBe("InvalidArgument");
  });

  test("every call but Register needs x-runner-uuid and x-runner-token of a live runner", async () => {
    const { reg, c } = await registered();
    expect(await codeOf(c.runner.declare({ version: "v", labels: ["nimbus"] }))).toBe("ok");
    expect(await codeOf(runnerClients(sim.url).runner.declare({ version: "v" }))).toBe("Unauthenticated");
    const forged = runnerClients(sim.url, { credentials: { uuid: reg.uuid, token: "forged" } });
    expect(await codeOf(forged.runner.fetchTask({ tasksVersion: 0n }))).toBe("Unauthenticated");
    const other = runnerClients(sim.url, { credentials: { uuid: "00000000-0000-4000-8000-000000000000", token: reg.token } });
    expect(await codeOf(other.runner.fetchTask({ tasksVersion: 0n }))).toBe("Unauthenticated");
  });
});

describe("task semantics", () => {
  test("FetchTask: nothing while the runner's tasks_version is current; a new job bumps it; an ephemeral runner takes one task", async () => {
    const { c } = await registered(false, ["nimbus", "extra"]);
    const first = await c.runner.fetchTask({ tasksVersion: 0n });
    expect(first.task).toBeUndefined();
    const idle = await c.runner.fetchTask({ tasksVersion: first.tasksVersion });
    expect([idle.task, idle.tasksVersion]).toEqual([undefined, first.tasksVersion]);
    sim.model.addJob({ repo: "acme/app", labels: ["nimbus", "nope-unmatched"] });
    const job = sim.model.addJob({ repo: "acme/app", labels: ["nimbus"] });
    const got = await c.runner.fetchTask({ tasksVersion: first.tasksVersion });
    expect(got.tasksVersion).toBeGreaterThan(first.tasksVersion);
    expect(got.task).toBeDefined();
    expect(new TextDecoder().decode(got.task!.workflowPayload)).toContain(`echo hello from gitea job ${job.id}`);
    expect((got.task!.context as Record<string, unknown>).gitea_runtime_token).toBeString();
    sim.model.addJob({ repo: "acme/app", labels: ["nimbus"] });
    expect((await c.runner.fetchTask({ tasksVersion: 0n })).task).toBeUndefined(); // ephemeral: one task only
  });

  test("UpdateLog: ack is index + rows; a gap is not stored; an overlap is not duplicated; another runner's task is PermissionDenied", async () => {
    const { c } = await registered(true, ["logs-test"]);
    sim.model.addJob({ repo: "acme/app", labels: ["logs-test"] });
    const task = (await c.runner.fetchTask({ tasksVersion: 0n })).task!;
    const row = (content: string) => create(LogRowSchema, { content });
    expect((await c.runner.updateLog({ taskId: task.id, index: 0n, rows: [row("a"), row("b")] })).ackIndex).toBe(2n);
    expect((await c.runner.updateLog({ taskId: task.id, index: 5n, rows: [row("gap")] })).ackIndex).toBe(2n);
    expect((await c.runner.updateLog({ taskId: task.id, index: 1n, rows: [row("b"), row("c")] })).ackIndex).toBe(3n);
    expect(sim.model.tasks.get(Number(task.id))!.rows).toEqual(["a", "b", "c"]);
    const thief = await registered();
    expect(await codeOf(thief.c.runner.updateLog({ taskId: task.id, index: 3n, rows: [row("x")] }))).toBe("PermissionDenied");
    expect(await codeOf(thief.c.runner.updateTask({ state: { id: task.id, result: 1 } }))).toBe("PermissionDenied");
    expect(await codeOf(c.runner.updateTask({}))).toBe("InvalidArgument");
    const done = await c.runner.updateTask({ state: { id: task.id, result: 1 }, outputs: { k: "v" } });
    expect([done.state!.result, done.sentOutputs]).toEqual([1, ["k"]]);
    expect(sim.model.jobs.get(sim.model.tasks.get(Number(task.id))!.jobId)!.status).toBe("success");
    expect(await codeOf(c.runner.fetchTask({ tasksVersion: 0n }))).toBe("Unauthenticated"); // the ephemeral runner is gone
  });
});

describe("hostile bodies on the wire", () => {
  const post = (method: string, body: BodyInit, type: string, headers: Record<string, string> = {}) =>
    fetch(`${sim.url}/api/actions/runner.v1.RunnerService/${method}`, { method: "POST", headers: { "content-type": type, "connect-protocol-version": "1", ...headers }, body });

  test("garbage protobuf, malformed JSON, a wrong field type: refused with a Connect error, nothing registered", async () => {
    const before = sim.model.runners.size;
    // connect-es answers an undecodable binary body `internal` (Gitea's connect-go: invalid_argument); either way refused.
    const bin = await post("Register", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), "application/proto");
    expect(bin.status).toBeGreaterThanOrEqual(400);
    expect((await bin.json()).message).toContain("illegal tag");
    const js = await post("Register", "{not json", "application/json");
    expect([js.status, (await js.json()).code]).toEqual([400, "invalid_argument"]);
    const typed = await post("Register", JSON.stringify({ name: 5, token: [] }), "application/json");
    expect([typed.status, (await typed.json()).code]).toEqual([400, "invalid_argument"]);
    expect(sim.model.runners.size).toBe(before);
  });

  test("an oversized body is refused (resource_exhausted); an unknown method is 404; a valid binary Register by hand works", async () => {
    const big = toBinary(RegisterRequestSchema, create(RegisterRequestSchema, { name: "x".repeat(5 * 1024 * 1024), token: "t" }));
    const r = await post("Register", big, "application/proto");
    expect((await r.json()).code).toBe("resource_exhausted");
    expect((await post("Nope", "{}", "application/json")).status).toBe(404);
    const ok = await post("Register", toBinary(RegisterRequestSchema, create(RegisterRequestSchema, { name: "by-hand", token: sim.model.registrationToken({ level: "instance" }), ephemeral: true })), "application/proto");
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("application/proto");
  });
});

describe("REST and webhooks", () => {
  const api = (path: string, init: RequestInit = {}, token: string | null = sim.rest.apiToken) =>
    fetch(`${sim.url}/api/v1${path}`, { ...init, headers: token ? { authorization: `token ${token}` } : {} });

  test("registration token at instance, org and repo level (GET and POST), reusable; no or a wrong token is 401", async () => {
    const a = await (await api("/admin/actions/runners/registration-token")).json();
    const b = await (await api("/admin/actions/runners/registration-token", { method: "POST" })).json();
    expect(a.token).toBe(b.token);
    const org = await (await api("/orgs/acme/actions/runners/registration-token", { method: "POST" })).json();
    const repo = await (await api("/repos/acme/app/actions/runners/registration-token")).json();
    expect(new Set([a.token, org.token, repo.token]).size).toBe(3);
    expect((await api("/admin/actions/runners/registration-token", {}, null)).status).toBe(401);
    expect((await api("/admin/actions/runners/registration-token", {}, "wrong")).status).toBe(401);
    expect((await api("/nope/actions/runners")).status).toBe(404);
  });

  test("jobs by status, runners listed and deleted; a 5xx fault answers N calls and each is counted", async () => {
    sim.model.addJob({ repo: "globex/web", labels: ["nimbus", "waits"] });
    const waiting = await (await api("/orgs/globex/actions/jobs?status=waiting")).json();
    expect(waiting.jobs.map((j: any) => new URL(j.html_url).pathname.split("/actions/")[0])).toEqual(["/globex/web"]);
    expect(waiting.jobs[0]).toMatchObject({ status: "waiting", labels: ["nimbus", "waits"], runner_id: 0 });
    const { reg } = await registered();
    const listed = await (await api("/admin/actions/runners")).json();
    expect(listed.runners.map((r: any) => r.name)).toContain(reg.name);
    expect((await api(`/admin/actions/runners/${reg.id}`, { method: "DELETE" })).status).toBe(204);
    expect((await api(`/admin/actions/runners/${reg.id}`, { method: "DELETE" })).status).toBe(404);
    const before = sim.rest.calls.length;
    sim.rest.fail5xx = 2;
    expect([(await api("/admin/actions/runners")).status, (await api("/admin/actions/runners")).status, (await api("/admin/actions/runners")).status]).toEqual([503, 503, 200]);
    expect(sim.rest.calls.slice(before).map((c) => c.status)).toEqual([503, 503, 200]);
  });

  test("workflow_job webhooks signed like Forgejo: both header families, hex HMAC-SHA256 of the raw body", async () => {
    hookBodies = [];
    const job = sim.model.addJob({ repo: "acme/hooks", labels: ["nimbus"] });
    await sim.hooks.settle();
    const d = hookBodies.find((h) => JSON.parse(h.body).workflow_job.id === job.id)!;
    expect(JSON.parse(d.body)).toMatchObject({ action: "queued", repository: { full_name: "acme/hooks" }, workflow_job: { status: "waiting", labels: ["nimbus"] } });
    const want = createHmac("sha256", "sim-secret-0123456789abcdef").update(d.body).digest("hex");
    expect(d.headers.get("x-gitea-signature")).toBe(want);
    expect(d.headers.get("x-forgejo-signature")).toBe(want);
    expect(d.headers.get("x-gitea-event")).toBe("workflow_job");
    expect(d.headers.get("x-gitea-delivery")).toBe(d.headers.get("x-forgejo-delivery"));
  });
});

describe("the act_runner stand-in", () => {
  async function standin(json: boolean, labels: string[], steps: { name: string; run: string }[]) {
    const { reg } = await registered(json, labels);
    const dir = mkdtempSync(join(tmpdir(), "gitea-standin-"));
    dirs.push(dir);
    writeFileSync(join(dir, ".runner"), JSON.stringify(runnerFile({ id: Number(reg.id), uuid: reg.uuid, name: reg.name, token: reg.token, address: sim.url, labels, ephemeral: true })));
    const job = sim.model.addJob({ repo: "acme/app", labels, steps });
    const p = Bun.spawn([process.execPath, STANDIN, "daemon", "--once", ...(json ? ["--json"] : [])], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, STANDIN_POLL_MS: "50" } });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code, out, err, job, task: sim.model.tasks.get(sim.model.jobs.get(job.id)!.taskId!)!, reg };
  }

  test("daemon --once (binary): takes the task, runs the steps, log acknowledged, success, runner gone", async () => {
    const r = await standin(false, ["standin-bin"], [{ name: "one", run: "echo step-one" }, { name: "two", run: "echo step-two >&2" }]);
    expect(r.code).toBe(0);
    expect([r.out, r.err]).toEqual([expect.stringContaining("step-one"), "step-two\n"]);
    expect(r.out).toContain(`took task ${r.task.id}`);
    expect(r.task.rows).toEqual(["::group::Run one", "step-one", "::endgroup::", "::group::Run two", "step-two", "::endgroup::"]);
    expect([r.task.logDone, r.task.finals, sim.model.jobs.get(r.job.id)!.status]).toEqual([true, 1, "success"]);
    expect(sim.model.runners.get(Number(r.reg.id))!.deleted).toBe(true);
  }, 30_000);

  test("daemon --once --json: a failing step fails the task and skips the rest; exit 1", async () => {
    const r = await standin(true, ["standin-json"], [{ name: "bad", run: "echo about-to-fail; exit 3" }, { name: "never", run: "echo never" }]);
    expect(r.code).toBe(1);
    expect(r.task.rows).toContain("about-to-fail");
    expect(r.task.rows).not.toContain("never");
    expect([r.task.result, sim.model.jobs.get(r.job.id)!.status]).toEqual([2, "failure"]);
  }, 30_000);

  test("a stand-in whose runner was deleted exits 2 without taking a task; a bad .runner file is refused", async () => {
    const { reg } = await registered(false, ["deleted-one"]);
    sim.model.runners.get(Number(reg.id))!.deleted = true;
    const dir = mkdtempSync(join(tmpdir(), "gitea-standin-"));
    dirs.push(dir);
    writeFileSync(join(dir, ".runner"), JSON.stringify(runnerFile({ id: Number(reg.id), uuid: reg.uuid, name: reg.name, token: reg.token, address: sim.url, labels: ["deleted-one"], ephemeral: true })));
    const p = Bun.spawn([process.execPath, STANDIN, "daemon", "--once"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect(await p.exited).toBe(2);
    expect(await new Response(p.stderr).text()).toContain("Unauthenticated");
    writeFileSync(join(dir, ".runner"), JSON.stringify({ id: 1, uuid: "nope", name: "x", token: "t", address: sim.url, labels: [], ephemeral: true }));
    const bad = Bun.spawn([process.execPath, STANDIN, "daemon", "--once"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect(await bad.exited).not.toBe(0);
    expect(await new Response(bad.stderr).text()).toContain(".runner: uuid");
  }, 30_000);
});
