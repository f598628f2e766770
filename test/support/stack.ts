/** A whole single-host stack for end-to-end tests: real nats-server, services and agents as processes. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { startStack, type Stack, type StackOptions } from "../../src/up/supervisor.ts";
import { portSpan } from "../../src/up/nats-nodes.ts";
import { TERMINAL, type JobRecord } from "../../src/jobs/record.ts";
import { waitFor } from "./net.ts";
import { recordedToken } from "./tokens.ts";
import type { TokenRequest } from "../../src/auth/tokens.ts";

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A base with `count` free ports (six: one NATS node), below the kernel's ephemeral range (32768+ by default): a port that is
 * free when checked must not be handed to some client's outgoing connection before the service binds it.
 */
export async function freePortBase(count = 6): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 1270) * 10;
    const checks = await Promise.all(Array.from({ length: count }, (_, i) => portFree(base + i)));
    if (checks.every(Boolean)) return base;
  }
}

export interface TestStack extends Stack {
  api<T = any>(path: string, init?: RequestInit & { json?: unknown; token?: string | null }): Promise<{ status: number; body: T }>;
  submit(spec: Record<string, unknown>): Promise<JobRecord>;
  waitJob(id: string, pred?: (j: JobRecord) => boolean, timeoutMs?: number): Promise<JobRecord>;
  logs(id: string): Promise<{ stream: string; text: string; attempt: number }[]>;
  waitAgents(n: number): Promise<void>;
  /** A token recorded in this stack's ledger (as `nimbus up` records its own). */
  token(r: TokenRequest): Promise<string>;
  destroy(): Promise<void>;
}

export const FAST = { NIMBUS_LEASE_TTL_MS: "2000", NIMBUS_SWEEP_INTERVAL_MS: "200" };

export async function testStack(opts: Partial<StackOptions> = {}): Promise<TestStack> {
  const dataDir = mkdtempSync(join(tmpdir(), "nimbus-e2e-"));
  const stack = await startStack({
    dataDir,
    portBase: await freePortBase(portSpan(opts.natsCluster ?? 1)),
    agents: 1,
    ...opts,
    controlEnv: { ...FAST, ...opts.controlEnv },
    agentEnv: { NIMBUS_LEASE_TTL_MS: FAST.NIMBUS_LEASE_TTL_MS, ...opts.agentEnv },
  });
  const t = stack as TestStack;
  t.api = async (path, init = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string>) };
    if (init.token !== null) headers.authorization = `Bearer ${init.token ?? stack.adminToken}`;
    if (init.json !== undefined) headers["content-type"] = "application/json";
    const base = path.startsWith("/v1/") ? stack.logsUrl : stack.controlUrl;
    const res = await fetch(base + path, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, body: body as any };
  };
  t.submit = async (spec) => {
    const r = await t.api<{ job: JobRecord }>("/api/jobs", { method: "POST", json: spec });
    if (r.status !== 201 && r.status !== 200) throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.job;
  };
  t.waitJob = async (id, pred = (j) => TERMINAL.has(j.state), timeoutMs = 30_000) => {
    let last: JobRecord | undefined;
    await waitFor(async () => {
      last = (await t.api<{ job: JobRecord }>(`/api/jobs/${id}`)).body.job;
      return !!last && pred(last);
    }, timeoutMs, `job ${id} (last state ${last?.state})`, 50);
    return last!;
  };
  t.logs = async (id) => (await t.api(`/v1/jobs/${id}/logs`)).body.lines;
  t.waitAgents = (n) =>
    waitFor(async () => ((await t.api<{ agents: unknown[] }>("/api/agents")).body.agents?.length ?? 0) >= n, 15_000, `${n} agents`);
  t.token = (r) => recordedToken(stack.natsUrl, stack.authSecret, r, stack.natsAuth);
  t.destroy = async () => {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return t;
}
