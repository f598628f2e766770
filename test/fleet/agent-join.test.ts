/**
 * `nimbus agent join` end to end: a `nimbus up --nats-auth jwt` stack with no agent; an operator mints
 * an enrollment token; the CLI, from another data directory and with no NATS credentials at all, joins
 * an agent (writing its 0600 settings file) and runs it in the foreground; a job runs on it. A spent
 * token, an existing settings file and a malformed id are refused by the CLI without starting anything.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import type { AgentInfo } from "../../src/agents/registry.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

const ROOT = resolve(import.meta.dir, "../..");
let s: TestStack;
let dir: string;
let joined: Subprocess | undefined;

beforeAll(async () => {
  s = await testStack({ natsAuth: "jwt", agents: 0 });
  dir = mkdtempSync(join(tmpdir(), "nimbus-join-"));
}, 60_000);
afterAll(async () => {
  if (joined && joined.exitCode === null) {
    joined.kill("SIGTERM");
    await joined.exited;
  }
  await s?.destroy();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const hostEnv = () => {
  // The new host knows nothing of the fleet: no NATS URL or user, no token, no stack in its data dir.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("NIMBUS_")) env[k] = v;
  return { ...env, NIMBUS_DATA_DIR: join(dir, "data"), NIMBUS_AGENT_DIR: join(dir, "agent"), NIMBUS_LEASE_TTL_MS: "2000" };
};
const cli = (args: string[], stdout: "pipe" | "inherit" = "pipe") =>
  Bun.spawn([process.execPath, "run", join(ROOT, "src/bin/nimbus.ts"), ...args], { cwd: dir, env: hostEnv(), stdout, stderr: "pipe" });
const mintEnroll = async () => (await s.api<{ token: string; entry: { id: string } }>("/api/tokens", { method: "POST", json: { role: "enroll", name: "host-b", ttl: "1h" } })).body;
const agents = async () => (await s.api<{ agents: AgentInfo[] }>("/api/agents")).body.agents;

describe("nimbus agent join", () => {
  test("joins an agent from another data dir with only an enrollment token (minted by the CLI); a job runs on it", async () => {
    const opEnv = { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: s.adminToken };
    const mint = (args: string[]) => Bun.spawn([process.execPath, "run", join(ROOT, "src/bin/nimbus.ts"), "token", "mint", ...args], { env: opEnv, stdout: "pipe", stderr: "pipe" });
    const m = mint(["--kind", "enroll", "--json"]);
    expect(await m.exited).toBe(0);
    const { token, entry } = JSON.parse(await new Response(m.stdout).text());
    expect(entry).toMatchObject({ role: "enroll", org: null, used: null });
    expect(Date.parse(entry.expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000);
    for (const bad of [["--kind", "bogus"], ["--kind", "enroll", "--role", "member"], ["--kind", "enroll", "--org", "acme"]]) {
      const b = mint(bad);
      expect([bad.join(" "), await b.exited]).toEqual([bad.join(" "), 1]);
    }
    const settings = join(dir, "agent.env");
    joined = Bun.spawn([process.execPath, "run", join(ROOT, "src/bin/nimbus.ts"), "agent", "join", "--control", s.controlUrl, "--token", token, "--id", "joined-1", "--settings", settings],
      { cwd: dir, env: hostEnv(), stdout: "pipe", stderr: "pipe" });
    await waitFor(async () => (await agents()).some((a) => a.id === "joined-1"), 45_000, "the joined agent in the registry", 250);
    const text = readFileSync(settings, "utf8");
    expect(statSync(settings).mode & 0o777).toBe(0o600);
    expect(text).toContain("NIMBUS_AGENT_ID=joined-1\n");
    expect(text).toContain(`NIMBUS_AGENT_CONTROL_URL=${s.controlUrl}\n`);
    expect(text).toContain(`NIMBUS_NATS_URL=${s.natsUrl}\n`);
    expect(text).toContain(`NIMBUS_AGENT_CACHE_URL=${s.cacheUrl}\n`);
    expect(text).toMatch(/\nNIMBUS_AGENT_TOKEN=ey/);
    expect(text).not.toMatch(/\nNIMBUS_NATS_(USER|PASSWORD|JWT|SEED)=/);
    const job = await s.submit({ command: ["sh", "-c", "echo hello from the joined host"] });
    const done = await s.waitJob(job.id, undefined, 45_000);
    expect(done.state).toBe("succeeded");
    expect(done.agentId).toBe("joined-1");
    expect((await s.logs(job.id)).map((l) => l.text)).toEqual(["hello from the joined host"]);
    // A signal to the CLI drains the agent, which leaves the registry.
    joined.kill("SIGTERM");
    expect(await joined.exited).toBe(0);
    await waitFor(async () => !(await agents()).some((a) => a.id === "joined-1"), 10_000, "the agent gone");
  }, 120_000);

  test("a spent token, an existing settings file, a bad id or URL: refused, nothing written or started", async () => {
    const { token } = await mintEnroll();
    const first = join(dir, "first.env");
    const ok = cli(["agent", "join", "--control", s.controlUrl, "--token", token, "--id", "nostart-1", "--settings", first, "--no-start"]);
    expect(await ok.exited).toBe(0);
    const out = await new Response(ok.stdout).text();
    expect(out).toContain("joined as agent nostart-1");
    expect(out).toContain("nimbus install --systemd agent");
    expect(out).not.toContain(token);
    expect(readFileSync(first, "utf8")).not.toContain(token); // the enrollment token is not the agent's

    const second = join(dir, "second.env");
    const spent = cli(["agent", "join", "--control", s.controlUrl, "--token", token, "--id", "nostart-2", "--settings", second, "--no-start"]);
    expect(await spent.exited).not.toBe(0);
    expect(await new Response(spent.stderr).text()).toContain("already used");
    expect(existsSync(second)).toBe(false);

    const fresh = await mintEnroll();
    writeFileSync(second, "# the operator's\n");
    const kept = cli(["agent", "join", "--control", s.controlUrl, "--token", fresh.token, "--id", "nostart-3", "--settings", second, "--no-start"]);
    expect(await kept.exited).not.toBe(0);
    expect(await new Response(kept.stderr).text()).toContain("--force");
    expect(readFileSync(second, "utf8")).toBe("# the operator's\n");
    const badId = cli(["agent", "join", "--control", s.controlUrl, "--token", fresh.token, "--id", "no spaces!", "--settings", join(dir, "x.env"), "--no-start"]);
    expect(await badId.exited).not.toBe(0);
    const badUrl = cli(["agent", "join", "--control", "file:///etc/passwd", "--token", fresh.token, "--settings", join(dir, "y.env"), "--no-start"]);
    expect(await badUrl.exited).not.toBe(0);
    // None of those spent the fresh token.
    const entry = (await s.api<{ tokens: { id: string; used?: unknown }[] }>("/api/tokens")).body.tokens.find((t) => t.id === fresh.entry.id)!;
    expect(entry.used).toBeNull();
  }, 60_000);
});
