/**
 * Debian's real Prometheus scrapes a running single-host stack (control plane, log service, Actions
 * cache, registry) with an operator service token, as docs/operations.md configures it, while jobs
 * run: every target is up, the job lifecycle's histograms and the runner gauges carry the jobs that
 * ran, the alert rules in docs/observability load and evaluate without error, `promtool` passes
 * each service's own metric families, and every metric the Grafana dashboard queries is one a
 * service exports. (The stack binds loopback, where /metrics is open; the token rules off loopback
 * are the tenancy matrix's.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, waitFor } from "../support/net.ts";
import { testStack, type TestStack } from "../support/stack.ts";

const DOCS = resolve(import.meta.dir, "../../docs/observability");
let t: TestStack;
let token: string;
const services = () => ({ "nimbus-control": t.controlUrl, "nimbus-logs": t.logsUrl, "nimbus-cache": t.cacheUrl, "nimbus-registry": t.registryUrl });

beforeAll(async () => {
  t = await testStack();
  await t.waitAgents(1);
  token = await t.token({ sub: "prometheus", role: "operator", service: false, ttlSeconds: 3600 });
  for (const cmd of [["true"], ["sh", "-c", "exit 3"]]) await t.waitJob((await t.submit({ command: cmd })).id);
}, 60_000);
afterAll(() => t?.destroy());

async function exposition(url: string): Promise<string> {
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return r.text();
}

/** The families a text names in its `# TYPE` lines, with their type. */
const families = (text: string) => new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));

describe("Prometheus against a running stack", () => {
  test("every target up; lifecycle histograms, runner gauges and alert rules as Prometheus sees them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nimbus-prometheus-"));
    const port = await freePort();
    writeFileSync(join(dir, "token"), token, { mode: 0o600 });
    const jobs = Object.entries(services()).map(
      ([name, url]) => `  - job_name: ${name}\n    authorization: { type: Bearer, credentials_file: ${join(dir, "token")} }\n    static_configs: [{ targets: ["${url.replace("http://", "")}"] }]`,
    );
    writeFileSync(join(dir, "prometheus.yml"), `global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: [${join(DOCS, "alerts.yml")}]\nscrape_configs:\n${jobs.join("\n")}\n`);
    const prom = Bun.spawn(["prometheus", `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`], { stdout: "ignore", stderr: "pipe" });
    const api = async <T,>(path: string): Promise<T | null> => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/${path}`).catch(() => null);
      return r?.ok ? ((await r.json()) as { data: T }).data : null;
    };
    const query = async (q: string) => (await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`query?query=${encodeURIComponent(q)}`))?.result ?? [];
    try {
      await waitFor(async () => {
        const targets = (await api<{ activeTargets: { health: string }[] }>("targets"))?.activeTargets ?? [];
        return targets.length === 4 && targets.every((x) => x.health === "up");
      }, 30_000, "all four targets up");
      // One job succeeded and one failed: each counted once, with its queue, startup and run time.
      await waitFor(async () => (await query("sum(nimbus_jobs_completed_total)")).length > 0, 10_000, "the completion counter scraped");
      const outcomes = Object.fromEntries((await query("sum by (outcome) (nimbus_jobs_completed_total)")).map((r) => [r.metric.outcome, Number(r.value[1])]));
      expect(outcomes).toEqual({ succeeded: 1, failed: 1 });
      for (const h of ["queue", "startup", "execution"]) expect(Number((await query(`sum(nimbus_job_${h}_duration_seconds_count)`))[0]?.value[1])).toBe(2);
      const pools = (await query("nimbus_job_queue_duration_seconds_count")).map((r) => r.metric.pool);
      expect(pools.every((p) => /^x64\.sandbox\./.test(p!))).toBe(true);
      expect(Number((await query('nimbus_runners{state="idle"}'))[0]?.value[1])).toBeGreaterThan(0);
      expect(Number((await query('nimbus_agents{draining="false"}'))[0]?.value[1])).toBe(1);
      expect(Number((await query("sum(nimbus_logs_lines_stored_total)"))[0]?.value[1])).toBeGreaterThanOrEqual(0);
      // The alert rules load and evaluate cleanly; none fires on a healthy stack.
      await waitFor(async () => {
        const groups = (await api<{ groups: { rules: { health: string; lastEvaluation: string }[] }[] }>("rules"))?.groups ?? [];
        const rules = groups.flatMap((g) => g.rules);
        return rules.length === 6 && rules.every((r) => r.health === "ok" && !r.lastEvaluation.startsWith("0001"));
      }, 15_000, "the six rules evaluated");
      expect((await api<{ alerts: unknown[] }>("alerts"))?.alerts).toEqual([]);
    } finally {
      prom.kill();
      await prom.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  test("promtool passes each service's own families; the dashboard queries only exported metrics", async () => {
    const exported = new Map<string, string>();
    for (const [name, url] of Object.entries(services())) {
      const text = await exposition(url);
      const own = text.split(/(?=^# HELP )/m).filter((block) => !/^# HELP nimbus_[a-z]+_(process|nodejs)_/.test(block)).join("");
      expect(own).toContain("# TYPE nimbus_");
      const p = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(own), stdout: "pipe", stderr: "pipe" });
      const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
      expect({ service: name, code, out, err }).toEqual({ service: name, code: 0, out: "", err: "" });
      for (const [f, type] of families(text)) exported.set(f, type);
    }
    const dashboard = JSON.parse(readFileSync(join(DOCS, "grafana-dashboard.json"), "utf8")) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr));
    expect(exprs.length).toBeGreaterThan(10);
    const named = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(nimbus_[a-z0-9_]+)/g)].map((m) => m[1]!)));
    for (const m of named) {
      const base = m.replace(/_(bucket|count|sum)$/, "");
      const known = exported.has(m) || (exported.get(base) === "histogram" && base !== m);
      expect({ metric: m, known }).toEqual({ metric: m, known: true });
    }
  });

  test("promtool passes the alert rules", async () => {
    const p = Bun.spawn(["promtool", "check", "rules", join(DOCS, "alerts.yml")], { stdout: "pipe", stderr: "pipe" });
    const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
    expect(code).toBe(0);
    expect(out).toContain("SUCCESS: 6 rules found");
  });
});
