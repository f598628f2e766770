/**
 * Log search as a user drives it: jobs of two organisations run on a real stack, and `nimbus logs
 * search` / `logs histogram` (the CLI binary, with each org's member token) find their own org's
 * lines across jobs, never the other's; `--follow` prints a matching line of a job started after
 * it; a bad query names its position; another org's `--org` is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
let t: TestStack;
const tokens: Record<string, string> = {};

function nimbus(org: string, args: string[]) {
  const p = Bun.spawnSync([BIN, ...args], { env: { ...process.env, NIMBUS_URL: t.controlUrl, NIMBUS_TOKEN: tokens[org]! }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

async function runAs(org: string, script: string): Promise<string> {
  const r = await t.api<{ job: { id: string } }>("/api/jobs", { method: "POST", json: { command: ["sh", "-c", script] }, token: tokens[org] });
  expect(r.status).toBe(201);
  const job = await t.waitJob(r.body.job.id);
  return job.id;
}

beforeAll(async () => {
  t = await testStack();
  await t.waitAgents(1);
  for (const org of ["acme", "globex"]) tokens[org] = await t.token({ sub: `dev-${org}`, role: "member", org, ttlSeconds: 3600 });
  await runAs("acme", "echo '##[group]Build'; echo 'compiling widget'; echo '##[error]widget failed: disk full'; exit 1");
  await runAs("acme", "echo 'widget tests passed'");
  await runAs("globex", "echo 'widget secret of globex'; echo '##[error]globex widget failed'");
}, 90_000);
afterAll(() => t?.destroy());

describe("nimbus logs search", () => {
  test("finds the org's lines across jobs, newest first, with job, level and step; never another org's", () => {
    const r = nimbus("acme", ["logs", "search", "widget"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("widget tests passed");
    expect(r.out).toContain("[error]");
    expect(r.out).toContain("· Build");
    expect(r.out.indexOf("widget tests passed")).toBeLessThan(r.out.indexOf("disk full"));
    expect(r.out).not.toContain("globex");
    const json = nimbus("acme", ["logs", "search", "level:error status:failed", "--json"]);
    const hits = json.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(hits.map((h) => h.text)).toEqual(["##[error]widget failed: disk full"]);
    expect(hits[0]).toMatchObject({ org: "acme", level: "error", step: "Build", status: "failed", attempt: 1 });
    expect(nimbus("globex", ["logs", "search", "widget", "--json"]).out).not.toContain("acme");
  });

  test("pages with --limit, the histogram by level, and the errors a user can make", () => {
    expect(nimbus("acme", ["logs", "search", "widget", "--limit", "1", "--json"]).out.trim().split("\n")).toHaveLength(1);
    const h = nimbus("acme", ["logs", "histogram", "widget", "--since", "1h", "--json"]);
    const body = JSON.parse(h.out);
    expect(body.buckets.reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(3);
    expect(body.buckets.filter((b: { level: string }) => b.level === "error").reduce((n: number, b: { count: number }) => n + b.count, 0)).toBe(1);
    const text = nimbus("acme", ["logs", "histogram", "widget", "--since", "1h", "--buckets", "6"]);
    expect(text.code).toBe(0);
    expect(text.out).toContain("error 1");
    const bad = nimbus("acme", ["logs", "search", 'widget "unclosed']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('query: at 8: a phrase that is not closed');
    const other = nimbus("acme", ["logs", "search", "widget", "--org", "globex"]);
    expect(other.code).toBe(1);
    expect(other.err).toContain("sees only its organisation acme");
    expect(nimbus("acme", ["logs", "search", "org:globex widget"]).err).toContain("org: filters are for operators");
    expect(nimbus("acme", ["logs", "search", "widget", "--since", "yesterday"]).err).toContain('since: "yesterday" is not a time');
  });

  test("--follow prints matching lines of jobs that start after it, of its org only", async () => {
    const p = Bun.spawn([BIN, "logs", "search", "--follow", "live-marker"], { env: { ...process.env, NIMBUS_URL: t.controlUrl, NIMBUS_TOKEN: tokens.acme! }, stdout: "pipe", stderr: "pipe" });
    let out = "";
    (async () => {
      for await (const c of p.stdout as unknown as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(c);
    })();
    try {
      await Bun.sleep(1000);
      await runAs("globex", "echo 'live-marker from globex'");
      await runAs("acme", "echo 'live-marker from acme'; echo 'unrelated line'");
      await waitFor(() => out.includes("live-marker from acme"), 15_000, "the live line");
      expect(out).not.toContain("globex");
      expect(out).not.toContain("unrelated line");
    } finally {
      p.kill();
      await p.exited;
    }
  }, 40_000);
});

describe("hostile input to the search endpoints", () => {
  const get = async (path: string, token: string | null = tokens.acme!) => {
    const r = await fetch(t.logsUrl + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: r.status, body: (await r.json().catch(() => null)) as { code?: string; message?: string } | null };
  };
  test("a malformed cursor, limit or time, an oversized query, no token or a forged one: 4xx naming the problem", async () => {
    expect(await get(`/v1/logs/search?q=widget&cursor=${"A".repeat(40)}`)).toMatchObject({ status: 422, body: { message: expect.stringContaining("cursor: is not a cursor") } });
    expect(await get(`/v1/logs/search?q=widget&cursor=${"x".repeat(5000)}`)).toMatchObject({ status: 422 });
    expect(await get("/v1/logs/search?q=widget&limit=abc")).toMatchObject({ status: 422, body: { message: expect.stringContaining("limit:") } });
    expect(await get("/v1/logs/search?q=widget&since=1h&until=2h")).toMatchObject({ status: 422, body: { message: expect.stringContaining("since: must be before until") } });
    expect(await get(`/v1/logs/search?q=${"w".repeat(5000)}`)).toMatchObject({ status: 422, body: { message: expect.stringContaining("longer than 1024") } });
    expect(await get(`/v1/logs/histogram?q=widget&buckets=100000`)).toMatchObject({ status: 422, body: { message: expect.stringContaining("buckets:") } });
    expect(await get("/v1/logs/search")).toMatchObject({ status: 422, body: { message: expect.stringContaining("q: is required") } });
    expect((await get("/v1/logs/search?q=widget", null)).status).toBe(401);
    expect((await get("/v1/logs/search?q=widget", `${tokens.acme!.slice(0, -4)}AAAA`)).status).toBe(401);
    // The control plane's relay refuses an oversized query itself, and a bad token before relaying.
    const relay = await fetch(`${t.controlUrl}/api/logs/search?q=${"w".repeat(5000)}`, { headers: { authorization: `Bearer ${tokens.acme}` } });
    expect(relay.status).toBe(400);
    expect((await fetch(`${t.controlUrl}/api/logs/search?q=widget`)).status).toBe(401);
    // Nothing was disturbed: the org's search still answers.
    expect((await get("/v1/logs/search?q=widget")).status).toBe(200);
  });
});
