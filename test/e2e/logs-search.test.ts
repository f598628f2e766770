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
