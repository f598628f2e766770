import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { declaredSettings, renderReadme, unlistedSettings } from "../../scripts/config-docs.ts";

test("the README's configuration table matches the settings the services declare", () => {
  const readme = readFileSync(resolve(import.meta.dir, "../../README.md"), "utf8");
  // On a mismatch: bun run scripts/config-docs.ts
  expect(renderReadme(readme)).toBe(readme);
});

test("every setting a config module declares is listed by a service, so config check and the table include it", async () => {
  const declared = await declaredSettings();
  // The finder sees the agent's own settings and the agent-side GitHub ones (it would miss neither).
  expect(declared.get("NIMBUS_AGENT_SLOTS")).toBe("src/agents/settings.ts");
  expect(declared.get("NIMBUS_GITHUB_RUNNER_DIR")).toBe("src/github/config.ts");
  expect(declared.get("NIMBUS_NATS_URL")).toBeDefined();
  expect(await unlistedSettings()).toEqual([]);
});

test("the agent's row names the agent-side GitHub settings it reads", () => {
  const readme = readFileSync(resolve(import.meta.dir, "../../README.md"), "utf8");
  for (const env of ["NIMBUS_GITHUB_RUNNER_DIR", "NIMBUS_GITHUB_RESULT_WAIT_MS", "NIMBUS_GITHUB_RUNNER_HEARTBEAT_MS", "NIMBUS_GITHUB_ASSIGN_DEADLINE_MS", "NIMBUS_GITHUB_RETRY_BASE_MS"])
    expect(readme).toMatch(new RegExp(`^\\| \`${env}\` \\| [^|]*\\bagent\\b`, "m"));
});
