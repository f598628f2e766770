/** Each service validates its configuration once, at start, and stops naming every bad key. */
import { expect, test } from "bun:test";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");

function start(entry: string, env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("NIMBUS_")));
  const p = Bun.spawnSync([process.execPath, "run", entry], { cwd: ROOT, env: { ...clean, ...env }, stdout: "pipe", stderr: "pipe", timeout: 20_000 });
  return { code: p.exitCode, err: p.stderr.toString() };
}

test("the control plane refuses to start on bad settings, naming each key and hiding secret values", () => {
  const r = start("src/control/main.ts", { NIMBUS_AUTH_SECRET: "tiny-secret", NIMBUS_CONTROL_PORT: "eighty", NIMBUS_MAX_ATTEMPTS: "0" });
  expect(r.code).toBe(78);
  expect(r.err).toContain("NIMBUS_AUTH_SECRET: must be at least 32 characters");
  expect(r.err).toContain('NIMBUS_CONTROL_PORT: must be a whole number (got "eighty")');
  expect(r.err).toContain("NIMBUS_MAX_ATTEMPTS: must be at least 1");
  expect(r.err).not.toContain("tiny-secret");
});

test("the agent and the log service name what is missing", () => {
  const agent = start("agent/main.ts", {});
  expect(agent.code).toBe(78);
  expect(agent.err).toContain("NIMBUS_AGENT_TOKEN: is required but not set");
  const logs = start("src/logs/main.ts", { NIMBUS_LOGS_PORT: "70000" });
  expect(logs.code).toBe(78);
  expect(logs.err).toContain("NIMBUS_AUTH_SECRET: is required but not set");
  expect(logs.err).toContain("NIMBUS_LOGS_PORT: must be at most 65535");
});

test("the control plane and the agent refuse malformed tracing settings, naming the key and never the header value", () => {
  for (const entry of ["src/control/main.ts", "agent/main.ts"]) {
    const r = start(entry, { NIMBUS_OTEL_EXPORTER_HEADERS: "Authorization Bearer otel-hunter2", NIMBUS_OTEL_SAMPLER_RATIO: "2", NIMBUS_OTEL_EXPORTER_ENDPOINT: "collector:4318" });
    expect(r.code).toBe(78);
    expect(r.err).toContain("NIMBUS_OTEL_EXPORTER_HEADERS: must be NAME=VALUE pairs separated by commas: entry 1 is not NAME=VALUE");
    expect(r.err).toContain("NIMBUS_OTEL_SAMPLER_RATIO: must be a number from 0 to 1");
    expect(r.err).toContain("NIMBUS_OTEL_EXPORTER_ENDPOINT: must be a http or https URL");
    expect(r.err).not.toContain("otel-hunter2");
  }
});
