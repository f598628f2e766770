/** The `nimbus` CLI as a user drives it: `up` in one terminal, commands in another. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { runClient } from "../cache/support/client.ts";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePortBase } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");

function nimbus(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawnSync([BIN, ...args], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

interface Up {
  dir: string;
  proc: ReturnType<typeof Bun.spawn>;
  output: () => string;
  errors: () => string;
}

async function up(extra: string[] = []): Promise<Up> {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-cli-"));
  let text = "";
  let errText = "";
  const proc = Bun.spawn([BIN, "up", "--data-dir", dir, "--port-base", String(await freePortBase()), ...extra], { stdout: "pipe", stderr: "pipe" });
  (async () => {
    for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) text += new TextDecoder().decode(chunk);
  })();
  (async () => {
    for await (const chunk of proc.stderr as unknown as AsyncIterable<Uint8Array>) errText += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => text.includes("Nimbus is up") || proc.exitCode !== null, 20_000, "nimbus up");
  expect(proc.exitCode).toBeNull();
  return { dir, proc, output: () => text, errors: () => errText };
}

async function down(u: Up): Promise<void> {
  u.proc.kill("SIGINT");
  expect(await u.proc.exited).toBe(0);
  rmSync(u.dir, { recursive: true, force: true });
}

const servicePids = (dir: string) =>
  Bun.spawnSync(["pgrep", "-f", dir]).stdout.toString().trim().split("\n").filter(Boolean).map(Number).filter((p) => p !== process.pid);

let a: Up;
beforeAll(async () => {
  a = await up();
}, 30_000);
afterAll(async () => {
  if (a && a.proc.exitCode === null) await down(a);
}, 30_000);

describe("nimbus CLI against a local stack", () => {
  test("run streams output and exits with the job's exit code", () => {
    const r = nimbus(["run", "--data-dir", a.dir, "-e", "WHO=cli", "--", "sh", "-c", "echo hello $WHO; echo oops >&2; exit 5"]);
    expect(r.code).toBe(5);
    expect(r.out).toBe("hello cli\n");
    expect(r.err).toContain("oops");
    expect(r.err).toMatch(/job j-\S+ failed \(exit 5\)/);
    expect(nimbus(["run", "--data-dir", a.dir, "--", "true"]).code).toBe(0);
  });

  test("up prints follow-up commands that reach this stack: --data-dir when it is not the default", () => {
    expect(a.output()).toContain(`In another terminal: ./bin/nimbus status --data-dir ${a.dir} · ./bin/nimbus run --data-dir ${a.dir} -- echo hi · ./bin/nimbus jobs list --data-dir ${a.dir}`);
    // Each one works as printed (from another shell: no NIMBUS_DATA_DIR).
    const printed = /(\.\/bin\/nimbus run --data-dir \S+ -- echo hi)/.exec(a.output())![1]!.split(" ").slice(1);
    expect(nimbus(printed, { NIMBUS_DATA_DIR: "" })).toMatchObject({ code: 0, out: "hi\n" });
  });

  test("config check and show read the running stack by default and say so; --env reads this shell", () => {
    const shell = { NIMBUS_AUTH_SECRET: "", NIMBUS_AGENT_TOKEN: "" }; // a fresh terminal: no usable secrets
    const check = nimbus(["config", "check", "--data-dir", a.dir], shell);
    expect(check).toMatchObject({ code: 0, err: "" });
    expect(check.out).toBe(`checked the running stack in ${a.dir} (pid ${a.proc.pid})\nconfiguration is valid\n`);
    const json = JSON.parse(nimbus(["config", "check", "--json", "--data-dir", a.dir], shell).out);
    expect(json).toMatchObject({ ok: true, problems: [], checked: expect.stringContaining(a.dir) });
    const env = nimbus(["config", "check", "--env", "--data-dir", a.dir], shell);
    expect(env.code).toBe(1);
    expect(env.out).toStartWith("checked this shell's environment (--env)");
    expect(env.err).toContain("control: NIMBUS_AUTH_SECRET: must be at least 32 characters");
    const show = nimbus(["config", "show", "--data-dir", a.dir], shell);
    expect(show.code).toBe(0);
    expect(show.out).toStartWith(`# the running stack in ${a.dir}`);
    for (const section of ["[control]", "[logs]", "[cache]", "[agent-1]"]) expect(show.out).toContain(section);
    // The agent's own GitHub settings are part of what it reads, so part of what is shown.
    const agent = show.out.slice(show.out.indexOf("[agent-1]"));
    expect(agent).toContain("NIMBUS_GITHUB_RUNNER_DIR=");
    expect(agent).toContain("NIMBUS_GITHUB_RESULT_WAIT_MS=2000");
    expect(agent).toContain("NIMBUS_AGENT_TOKEN=[redacted]");
    const secret = readFileSync(join(a.dir, "auth-secret"), "utf8").trim();
    expect(show.out).toContain("NIMBUS_AUTH_SECRET=[redacted]");
    expect(show.out).not.toContain(secret);
    // Invalid is a failure for show as for check.
    const bad = nimbus(["config", "show", "--env", "--service", "logs"], shell);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("NIMBUS_AUTH_SECRET: INVALID — must be at least 32 characters");
  });

  test("the data dir comes from NIMBUS_DATA_DIR as well as --data-dir", () => {
    const r = nimbus(["run", "--", "echo", "via-env"], { NIMBUS_DATA_DIR: a.dir });
    expect(r.code).toBe(0);
    expect(r.out).toBe("via-env\n");
  });

  test("status, jobs, logs and agents, in text and --json", () => {
    const st = nimbus(["status", "--data-dir", a.dir, "--json"]);
    expect(st.code).toBe(0);
    const status = JSON.parse(st.out);
    expect(status.services.map((x: { service: string; healthy: boolean }) => [x.service, x.healthy])).toEqual([["control", true], ["logs", true], ["cache", true], ["registry", true], ["nats", true]]);
    expect(status.agents).toHaveLength(1);
    const jobs = JSON.parse(nimbus(["jobs", "list", "--data-dir", a.dir, "--json"]).out);
    expect(jobs.length).toBeGreaterThanOrEqual(2);
    const failed = jobs.find((j: { exitCode: number }) => j.exitCode === 5);
    const show = nimbus(["jobs", "show", failed.id, "--data-dir", a.dir]);
    expect(show.out).toContain("state    failed (exit 5)");
    // As typed: the quoting is shown, not lost (`sh -c echo hello $WHO; …`).
    expect(show.out).toContain(`command  sh -c 'echo hello $WHO; echo oops >&2; exit 5'\n`);
    expect(show.out).toMatch(/^created  \S+ · took \d/m);
    const listed = nimbus(["jobs", "list", "--data-dir", a.dir]).out.split("\n").find((l) => l.startsWith(failed.id))!;
    expect(listed).toMatch(/ took \S+ +sh -c 'echo hello \$WHO; echo oops >&2; exit 5'$/);
    expect(show.out).toMatch(/leased\s+\+\s*\d+ms/);
    expect(show.out).toMatch(/booting\s+→ running\s+attempt 1 on agent-1-[0-9a-f]{6}/);
    const logs = nimbus(["logs", failed.id, "--data-dir", a.dir]);
    expect(logs.out).toBe("hello cli\n");
    expect(logs.err).toBe("oops\n");
    expect(nimbus(["agents", "list", "--data-dir", a.dir]).out).toContain("agent-1");
    expect(nimbus(["jobs", "show", "j-nope", "--data-dir", a.dir])).toMatchObject({ code: 1, err: "nimbus jobs show: job j-nope not found\n" });
  });

  test("a job no agent takes reads as waiting in jobs list and jobs show, not running or took", () => {
    const id = nimbus(["run", "--detach", "--isolation", "vm", "--data-dir", a.dir, "--", "true"]).out.trim(); // no VM agent here
    expect(id).toMatch(/^j-/);
    const line = nimbus(["jobs", "list", "--data-dir", a.dir]).out.split("\n").find((l) => l.startsWith(id))!;
    expect(line).toMatch(/^\S+ +queued .* waiting \S+ +true$/);
    expect(nimbus(["jobs", "show", id, "--data-dir", a.dir]).out).toMatch(/^created  \S+ · waiting \d/m);
    // Status names the pool no agent serves, in text and --json.
    const pool = JSON.parse(nimbus(["jobs", "show", id, "--data-dir", a.dir, "--json"]).out).job.pool as string;
    expect(nimbus(["status", "--data-dir", a.dir]).out).toContain(`${pool}: 1 (no agent serves this pool: they wait)`);
    expect(JSON.parse(nimbus(["status", "--data-dir", a.dir, "--json"]).out).queue.unserved).toEqual([pool]);
    expect(nimbus(["jobs", "cancel", id, "--data-dir", a.dir]).out).toBe(`cancelled ${id}\n`);
    expect(nimbus(["jobs", "show", id, "--data-dir", a.dir]).out).toMatch(/^created  \S+ · waited \d/m);
  });

  test("run --detach, then cancel and follow", async () => {
    const id = nimbus(["run", "--detach", "--data-dir", a.dir, "--", "sh", "-c", "echo tick; sleep 30"]).out.trim();
    expect(id).toMatch(/^j-/);
    await waitFor(() => nimbus(["logs", id, "--data-dir", a.dir]).out.includes("tick"), 10_000, "first log line");
    expect(nimbus(["jobs", "cancel", id, "--data-dir", a.dir]).out).toContain("cancel requested");
    const f = nimbus(["logs", id, "--follow", "--data-dir", a.dir]);
    expect(f.out).toBe("tick\n");
    expect(f.err).toBe("nimbus: cancelled\n");
    expect(JSON.parse(nimbus(["jobs", "show", id, "--json", "--data-dir", a.dir]).out).job.state).toBe("cancelled");
  }, 30_000);

  test("token mint (through the API, and --bootstrap), list and revoke: a revoked token is refused", async () => {
    const state = JSON.parse(await Bun.file(join(a.dir, "state.json")).text());
    const jobs = (token: string) => fetch(`${state.controlUrl}/api/jobs`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    const ci = JSON.parse(nimbus(["token", "mint", "--role", "operator", "--name", "ci", "--ttl", "1h", "--json", "--data-dir", a.dir]).out);
    expect(ci.entry).toMatchObject({ role: "operator", sub: "ci", mintedBy: { sub: "admin" } });
    expect(await jobs(ci.token)).toBe(200);
    const agent = nimbus(["token", "mint", "--role", "agent", "--name", "agent-9", "--ttl", "1h", "--data-dir", a.dir]).out.trim();
    expect(await jobs(agent)).toBe(403);
    const first = nimbus(["token", "mint", "--bootstrap", "--role", "operator", "--name", "first-operator", "--ttl", "1h", "--data-dir", a.dir]);
    expect(first.code).toBe(0);
    expect(await jobs(first.out.trim())).toBe(200);
    const listed = JSON.parse(nimbus(["token", "list", "--json", "--data-dir", a.dir]).out) as { id: string; sub: string; mintedBy: { sub: string } }[];
    expect(listed.find((t) => t.sub === "first-operator")?.mintedBy.sub).toBe("bootstrap");
    expect(listed.map((t) => t.id)).toContain(ci.entry.id);
    expect(nimbus(["token", "list", "--data-dir", a.dir]).out).toMatch(/^ID\s+ROLE\s+ORG\s+NAME\s+STATE/);
    expect(nimbus(["token", "revoke", ci.entry.id, "--data-dir", a.dir]).out).toBe(`revoked ${ci.entry.id}\n`);
    await waitFor(async () => (await jobs(ci.token)) === 401, 5000, "the revoked token refused");
    const viaUrl = nimbus(["run", "--", "echo", "remote"], { NIMBUS_URL: state.controlUrl, NIMBUS_TOKEN: first.out.trim(), NIMBUS_DATA_DIR: "/nonexistent" });
    expect(viaUrl.out).toBe("remote\n");
    expect(nimbus(["token", "mint", "--role", "member", "--data-dir", a.dir])).toMatchObject({ code: 1, err: expect.stringContaining("--name is required") });
  });

  test("organisations: a member lists its org's jobs only; the operator sees an ORG column and filters with --org; show and status name the org", async () => {
    const state = JSON.parse(await Bun.file(join(a.dir, "state.json")).text());
    const member = nimbus(["token", "mint", "--role", "member", "--org", "team-x", "--name", "xavier", "--data-dir", a.dir]).out.trim();
    const res = await fetch(`${state.controlUrl}/api/jobs`, { method: "POST", headers: { authorization: `Bearer ${member}`, "content-type": "application/json" }, body: JSON.stringify({ command: ["true"], labels: ["nimbus", "isolation:vm"] }) });
    const body = (await res.json()) as { job: { id: string; org: string } };
    expect({ status: res.status, body }).toMatchObject({ status: 201, body: { job: { org: "team-x" } } });
    const job = body.job;
    const asMember = { NIMBUS_URL: state.controlUrl, NIMBUS_TOKEN: member, NIMBUS_DATA_DIR: "/nonexistent" };
    const mine = JSON.parse(nimbus(["jobs", "list", "--json"], asMember).out);
    expect(mine.map((j: { id: string }) => j.id)).toEqual([job.id]);
    expect(nimbus(["jobs", "list"], asMember).out.split("\n")[0]).not.toContain("ORG"); // one org: no column
    expect(nimbus(["jobs", "list", "--org", "default"], asMember)).toMatchObject({ code: 1, err: expect.stringContaining("team-x") });
    const all = nimbus(["jobs", "list", "--data-dir", a.dir]).out.split("\n");
    expect(all[0]).toMatch(/^ID +ORG +STATE/);
    expect(all.find((l) => l.startsWith(job.id))).toMatch(/^\S+ +team-x +queued/);
    const onlyDefault = JSON.parse(nimbus(["jobs", "list", "--org", "default", "--json", "--data-dir", a.dir]).out);
    expect(onlyDefault.length).toBeGreaterThan(0);
    expect(new Set(onlyDefault.map((j: { org: string }) => j.org))).toEqual(new Set(["default"]));
    expect(nimbus(["jobs", "show", job.id, "--data-dir", a.dir]).out).toContain("\norg      team-x\n");
    expect(nimbus(["status"], asMember).out).toContain("token:  xavier, member of team-x");
    expect(nimbus(["status", "--data-dir", a.dir]).out).toContain("token:  admin, operator (every organisation)");
    expect(nimbus(["jobs", "cancel", job.id], asMember).out).toBe(`cancelled ${job.id}\n`);
  });

  test("a second stack runs side by side; the same data dir twice is refused", async () => {
    const b = await up();
    try {
      expect(nimbus(["run", "--data-dir", b.dir, "--", "echo", "from-b"]).out).toBe("from-b\n");
      const again = Bun.spawnSync([BIN, "up", "--data-dir", a.dir, "--port-base", String(await freePortBase())], { stderr: "pipe" });
      expect(again.exitCode).toBe(1);
      expect(again.stderr.toString()).toContain("a stack is already running");
    } finally {
      await down(b);
    }
    expect(servicePids(b.dir)).toEqual([]);
  }, 60_000);
});

describe("nimbus up --demo", () => {
  test("a simulated GitHub workflow job goes webhook → JIT runner in a sandbox → completed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nimbus-demo-"));
    const p = Bun.spawn([BIN, "up", "--demo", "--exit-after-sample", "--data-dir", dir, "--port-base", String(await freePortBase())], { stdout: "pipe", stderr: "pipe" });
    const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
    expect(out).toContain("Hello from a Nimbus runner");
    expect(out).toMatch(/GitHub says: completed \(success\); Nimbus job gh-\d+: succeeded/);
    expect(code).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  }, 90_000);
});

describe("Actions cache from the CLI", () => {
  test("cache env points the unmodified client at the stack's cache; ls, usage and rm see what it saved", async () => {
    const work = mkdtempSync(join(tmpdir(), "nimbus-cli-cache-"));
    mkdirSync(join(work, "ws", "dist"), { recursive: true });
    writeFileSync(join(work, "ws", "dist", "app.js"), "console.log('built');\n".repeat(1000));
    const out = nimbus(["cache", "env", "--repo", "acme/app", "--ref", "refs/heads/main", "--json", "--data-dir", a.dir]);
    expect(out.code).toBe(0);
    const { env } = JSON.parse(out.out) as { env: Record<string, string> };
    expect(Object.keys(env).sort()).toEqual(["ACTIONS_CACHE_SERVICE_V2", "ACTIONS_RESULTS_URL", "ACTIONS_RUNTIME_TOKEN"]);
    const clientEnv = { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", RUNNER_TEMP: join(work, "tmp"), GITHUB_WORKSPACE: join(work, "ws"), ...env };
    mkdirSync(clientEnv.RUNNER_TEMP, { recursive: true });
    const saved = await runClient(clientEnv, { op: "save", paths: ["dist"], key: "build-1" });
    expect(typeof saved.result).toBe("number");
    const entries = JSON.parse(nimbus(["cache", "ls", "--repo", "acme/app", "--json", "--data-dir", a.dir]).out);
    expect(entries.map((e: { key: string }) => e.key)).toEqual(["build-1"]);
    expect(nimbus(["cache", "ls", "--data-dir", a.dir]).out).toContain("build-1");
    expect(nimbus(["cache", "usage", "--data-dir", a.dir]).out).toContain("acme/app");
    rmSync(join(work, "ws", "dist"), { recursive: true });
    expect((await runClient(clientEnv, { op: "restore", paths: ["dist"], key: "build-1" })).result).toBe("build-1");
    expect(readFileSync(join(work, "ws", "dist", "app.js"), "utf8")).toContain("built");
    expect(nimbus(["cache", "rm", "--repo", "acme/app", "--data-dir", a.dir]).out).toBe("deleted 1 entry\n");
    expect(JSON.parse(nimbus(["cache", "ls", "--json", "--data-dir", a.dir]).out)).toEqual([]);
    expect(nimbus(["cache", "rm", "--data-dir", a.dir]).err).toContain("name an entry id, or --repo OWNER/NAME");
    rmSync(work, { recursive: true, force: true });
  }, 60_000);
});

describe("errors a user can act on", () => {
  test("no stack, unreachable stack, bad usage, unknown command", () => {
    const none = nimbus(["status", "--data-dir", "/tmp/nimbus-no-such-dir"]);
    expect(none.code).toBe(1);
    expect(none.err).toContain("no Nimbus stack found in /tmp/nimbus-no-such-dir: start one with `nimbus up`");
    const unreachable = nimbus(["jobs", "list"], { NIMBUS_URL: "http://127.0.0.1:9", NIMBUS_TOKEN: "x", NIMBUS_CLI_RETRY_SECONDS: "0" });
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toContain("cannot reach the control plane at http://127.0.0.1:9 (connection refused). Is the stack up? (nimbus up)");
    expect(nimbus(["run", "--data-dir", a.dir]).err).toContain("missing COMMAND");
    expect(nimbus(["jobs", "list", "--bogus"]).code).toBe(2);
    expect(nimbus(["frobnicate"]).err).toContain('unknown command "frobnicate"');
    expect(nimbus(["run", "--help"]).out).toContain("Usage: nimbus run");
  });

  test("config check names every bad key; config show redacts secrets", () => {
    const bad = nimbus(["config", "check", "--env", "--service", "control"], { NIMBUS_AUTH_SECRET: "short", NIMBUS_CONTROL_PORT: "x" });
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("control: NIMBUS_AUTH_SECRET: must be at least 32 characters");
    expect(bad.err).toContain('control: NIMBUS_CONTROL_PORT: must be a whole number (got "x")');
    expect(bad.err).not.toContain("short\n");
    const secret = "k".repeat(40);
    const show = nimbus(["config", "show", "--env", "--service", "control"], { NIMBUS_AUTH_SECRET: secret, NIMBUS_SECRETS_KEY: Buffer.alloc(32, 2).toString("base64url") });
    expect(show.out).toContain("NIMBUS_AUTH_SECRET=[redacted]");
    expect(show.out).not.toContain(secret);
  });
});

describe("supervision", () => {
  test("a service that dies is restarted, and the state file follows its new pid", async () => {
    const statePath = join(a.dir, "state.json");
    const before = JSON.parse(await Bun.file(statePath).text()).services.control as number;
    process.kill(before, "SIGKILL");
    await waitFor(async () => {
      const now = JSON.parse(await Bun.file(statePath).text()).services.control as number;
      return now !== before && nimbus(["status", "--data-dir", a.dir]).code === 0;
    }, 15_000, "control plane restart");
    expect(a.output() + "").toContain("Nimbus is up");
    expect(nimbus(["run", "--data-dir", a.dir, "--", "echo", "after-restart"]).out).toBe("after-restart\n");
  }, 30_000);
});

describe("Ctrl-C", () => {
  test("stops every process of the stack and removes the state file", async () => {
    const dir = a.dir;
    const pids = Object.values(JSON.parse(await Bun.file(join(dir, "state.json")).text()).services) as number[];
    expect(pids).toHaveLength(6); // nats, logs, control, cache, registry, agent-1
    const alive = () => pids.filter((p) => existsSync(`/proc/${p}`));
    expect(alive()).toHaveLength(6);
    a.proc.kill("SIGINT");
    expect(await a.proc.exited).toBe(0);
    expect(alive()).toEqual([]);
    expect(servicePids(dir)).toEqual([]);
    expect(existsSync(join(dir, "state.json"))).toBe(false);
    expect(a.output()).toContain("Nimbus is up");
    // It says it is stopping, then one line saying everything stopped, naming what.
    const said = a.errors().trimEnd().split("\n").slice(-2);
    expect(said[0]).toBe("stopping Nimbus…");
    expect(said[1]).toMatch(/^Nimbus stopped: .* \(6 processes\); state file removed$/);
    expect(said[1]!.replace(/^Nimbus stopped: | \(.*$/g, "").split(", ").sort()).toEqual(["agent-1", "cache", "control", "logs", "nats", "registry"]);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);
});
