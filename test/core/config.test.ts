import { expect, test } from "bun:test";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, configSource, describeConfig, loadConfig } from "../../src/core/config/load.ts";
import { controlSettings } from "../../src/control/config.ts";
import { redactText } from "../../src/core/log.ts";

const SECRET = "s".repeat(20) + "-very-secret-value";
const KEY = Buffer.alloc(32, 7).toString("base64url");

test("valid config: defaults and typed values", () => {
  const c = loadConfig(controlSettings, { NIMBUS_AUTH_SECRET: SECRET, NIMBUS_SECRETS_KEY: KEY, NIMBUS_CONTROL_PORT: "9000", NIMBUS_CONTROL_HOST: "0.0.0.0" });
  expect(c.port).toBe(9000);
  expect(c.host).toBe("0.0.0.0");
  expect(c.maxAttempts).toBe(3);
});

test("every bad key is named; a secret's value is never echoed", () => {
  let err: ConfigError | undefined;
  try {
    loadConfig(controlSettings, { NIMBUS_AUTH_SECRET: "short-secret", NIMBUS_SECRETS_KEY: "short-key-value", NIMBUS_CONTROL_PORT: "http", NIMBUS_MAX_ATTEMPTS: "0" });
  } catch (e) {
    err = e as ConfigError;
  }
  expect(err).toBeInstanceOf(ConfigError);
  const keys = err!.problems.map((p) => p.key).sort();
  expect(keys).toEqual(["NIMBUS_AUTH_SECRET", "NIMBUS_CONTROL_PORT", "NIMBUS_MAX_ATTEMPTS", "NIMBUS_SECRETS_KEY"]);
  expect(err!.message).toContain('NIMBUS_CONTROL_PORT: must be a whole number (got "http")');
  expect(err!.message).toContain("NIMBUS_SECRETS_KEY: must be 32 random bytes");
  expect(err!.message).not.toContain("short-secret");
  expect(err!.message).not.toContain("short-key-value");
});

test("a required key that is missing is named", () => {
  expect(() => loadConfig(controlSettings, {})).toThrow("NIMBUS_AUTH_SECRET: is required but not set");
});

test("config file (JSON) under the environment; secrets redacted in show and in logs", () => {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-cfg-"));
  const file = join(dir, "nimbus.json");
  writeFileSync(file, JSON.stringify({ NIMBUS_AUTH_SECRET: SECRET, NIMBUS_SECRETS_KEY: KEY, NIMBUS_CONTROL_PORT: 7000, NIMBUS_MAX_ATTEMPTS: 5 }));
  const c = loadConfig(controlSettings, configSource({ NIMBUS_CONFIG: file, NIMBUS_MAX_ATTEMPTS: "7" }));
  expect(c.port).toBe(7000);
  expect(c.maxAttempts).toBe(7);
  const shown = describeConfig(controlSettings, c);
  expect(shown.NIMBUS_AUTH_SECRET).toBe("[redacted]");
  expect(shown.NIMBUS_SECRETS_KEY).toBe("[redacted]");
  expect(JSON.stringify(shown)).not.toContain(SECRET);
  expect(JSON.stringify(shown)).not.toContain(KEY);
  expect(redactText(`oops ${SECRET} leaked`)).toBe("oops [redacted] leaked");
});

test("a missing config file is named", () => {
  expect(() => configSource({ NIMBUS_CONFIG: "/nonexistent/nimbus.json" })).toThrow("NIMBUS_CONFIG: file not found");
});

test("agent drivers: firecracker serves isolation:vm; it and qemu exclude each other; jailer and job-config settings are checked", async () => {
  const { agentSettings } = await import("../../src/agents/settings.ts");
  const { driversFor } = await import("../../agent/drivers/select.ts");
  const base = { NIMBUS_AGENT_TOKEN: SECRET, NIMBUS_AGENT_DIR: mkdtempSync(join(tmpdir(), "nimbus-agentcfg-")), NIMBUS_VM_NETWORK: "none" };
  const c = loadConfig(agentSettings, { ...base, NIMBUS_AGENT_DRIVERS: "sandbox,firecracker", NIMBUS_FIRECRACKER_JAILER: "900:901", NIMBUS_FIRECRACKER_CGROUPS: "memory.max=1073741824" });
  expect(c.drivers).toEqual(["sandbox", "firecracker"]);
  const d = driversFor(c, "agent-x");
  expect([...d.byIsolation].map(([iso, drv]) => `${iso}:${drv.name}`)).toEqual(["sandbox:sandbox", "vm:firecracker"]);
  let err: ConfigError | undefined;
  try {
    loadConfig(agentSettings, { ...base, NIMBUS_AGENT_DRIVERS: "qemu,firecracker", NIMBUS_FIRECRACKER_JAILER: "root", NIMBUS_FIRECRACKER_JOB_CONFIG: "nfs" });
  } catch (e) {
    err = e as ConfigError;
  }
  expect(err!.message).toContain("NIMBUS_AGENT_DRIVERS: qemu and firecracker both serve isolation:vm; pick one");
  expect(err!.message).toContain("NIMBUS_FIRECRACKER_JAILER: must be UID:GID");
  expect(err!.message).toContain("NIMBUS_FIRECRACKER_JOB_CONFIG");
  // MMDS answers on the guest's NIC: without guest networking the driver refuses to be made.
  const mmds = loadConfig(agentSettings, { ...base, NIMBUS_AGENT_DRIVERS: "firecracker", NIMBUS_FIRECRACKER_JOB_CONFIG: "mmds" });
  expect(() => driversFor(mmds, "agent-y")).toThrow("needs guest networking");
});
