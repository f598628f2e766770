/**
 * scripts/check-layers.ts: dependencies run one way. It passes on this tree, and it fails, naming
 * both files, on small synthetic trees that break each rule.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { checkLayers } from "../../scripts/check-layers.ts";

const ROOT = join(import.meta.dir, "../..");
const SCRIPT = join(ROOT, "scripts/check-layers.ts");
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A throwaway tree: path → source. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-layers-"));
  temps.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function run(root: string) {
  const p = Bun.spawnSync([process.execPath, SCRIPT, root], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString() };
}

test("the repository's own tree passes: no upward import, no cross-app import, no file or folder cycle", () => {
  expect(checkLayers(ROOT)).toEqual([]);
  const r = run(ROOT);
  expect(r.out).toContain("dependencies run one way");
  expect(r.code).toBe(0);
}, 60_000); // reads and parses every source file twice (in-process and as the script); a loaded machine is slow

test("an import that runs up a layer fails with exit 1, one line naming both files", () => {
  const root = tree({
    "src/core/errors.ts": `import { verify } from "../github/webhook.ts";\nexport const e = verify;\n`,
    "src/github/webhook.ts": `export const verify = 1;\n`,
  });
  const r = run(root);
  expect(r.code).toBe(1);
  expect(r.out.trim().split("\n")).toEqual(["upward: src/core/errors.ts (core) imports src/github/webhook.ts (integrations)"]);
}, 30_000);

test("an app importing another app's internals fails; a published settings declaration does not", () => {
  const root = tree({
    "src/control/server.ts": `import { sign } from "../cache/signing.ts";\nimport { cacheSettings } from "../cache/config.ts";\nexport const x = [sign, cacheSettings];\n`,
    "src/cache/signing.ts": `export const sign = 1;\n`,
    "src/cache/config.ts": `import { common } from "../core/config.ts";\nexport const cacheSettings = common;\n`,
    "src/core/config.ts": `export const common = 1;\n`,
    "agent/images/build.ts": `export const build = 1;\n`,
    "src/cli/images.ts": `import { build } from "../../agent/images/build.ts";\nexport const b = build;\n`,
  });
  expect(checkLayers(root)).toEqual([
    "peer: src/cli/images.ts (src/cli) imports agent/images/build.ts (agent): another app's internals",
    "peer: src/control/server.ts (src/control) imports src/cache/signing.ts (src/cache): another app's internals",
  ]);
});

test("a published settings declaration that pulls in its own app's internals fails", () => {
  const root = tree({
    "src/logs/config.ts": `import { LIMIT } from "./store.ts";\nexport const logSettings = LIMIT;\n`,
    "src/logs/store.ts": `export const LIMIT = 1;\n`,
  });
  expect(checkLayers(root)).toEqual(["published: src/logs/config.ts (read by other apps) imports src/logs/store.ts: a published file may import only lower layers"]);
});

test("a file cycle fails, naming the files around it (a type-only import counts)", () => {
  const root = tree({
    "agent/agent.ts": `import { make } from "./drivers/select.ts";\nexport type AgentConfig = { n: number };\nexport const a = make;\n`,
    "agent/drivers/select.ts": `import type { AgentConfig } from "../agent.ts";\nexport const make = (c: AgentConfig) => c;\n`,
  });
  expect(checkLayers(root)).toEqual(["file cycle: agent/agent.ts → agent/drivers/select.ts → agent/agent.ts"]);
  expect(run(root).code).toBe(1);
}, 30_000);

test("a folder cycle fails even when no file cycle exists, naming a file pair for each direction", () => {
  const root = tree({
    "agent/drivers/qemu/warm.ts": `import { WarmPool } from "../../pool/warm.ts";\nexport const w = WarmPool;\n`,
    "agent/drivers/types.ts": `export const PREFIX = "nimbus-";\n`,
    "agent/pool/warm.ts": `export const WarmPool = 1;\n`,
    "agent/pool/names.ts": `import { PREFIX } from "../drivers/types.ts";\nexport const p = PREFIX;\n`,
  });
  expect(checkLayers(root)).toEqual([
    "folder cycle: agent/drivers → agent/pool → agent/drivers (agent/drivers/qemu/warm.ts → agent/pool/warm.ts; agent/pool/names.ts → agent/drivers/types.ts)",
  ]);
});

test("src/ and agent/ importing each other is a folder cycle at the top", () => {
  const root = tree({
    "agent/net/addr.ts": `import { AppError } from "../../src/core/errors.ts";\nexport const gateway = AppError;\n`,
    "src/core/errors.ts": `export const AppError = 1;\n`,
    "src/cli/up.ts": `import { gateway } from "../../agent/net/addr.ts";\nexport const g = gateway;\n`,
  });
  const offences = checkLayers(root);
  expect(offences).toContain("peer: src/cli/up.ts (src/cli) imports agent/net/addr.ts (agent): another app's internals");
  expect(offences).toContain("folder cycle: agent → src → agent (agent/net/addr.ts → src/core/errors.ts; src/cli/up.ts → agent/net/addr.ts)");
});

test("web may import types from anywhere below it and pure modules at run time, but nothing that reaches a package", () => {
  const root = tree({
    "src/jobs/record.ts": `import { AppError } from "../core/errors.ts";\nexport const STATES = [AppError];\n`,
    "src/core/errors.ts": `export const AppError = 1;\n`,
    "src/jobs/store.ts": `import type { KV } from "@nats-io/kv";\nimport { connect } from "@nats-io/transport-node";\nexport type Store = KV;\nexport const c = connect;\n`,
    "web/src/api.ts": `export { STATES } from "../../src/jobs/record.ts";\nexport type { Store } from "../../src/jobs/store.ts";\n`,
  });
  expect(checkLayers(root)).toEqual([]);
  writeFileSync(join(root, "web/src/agents.ts"), `import { c } from "../../src/jobs/store.ts";\nexport const x = c;\n`);
  expect(checkLayers(root)).toEqual([
    `browser: web/src/agents.ts imports src/jobs/store.ts at run time, which reaches "@nats-io/transport-node" (in src/jobs/store.ts)`,
  ]);
});

test("a file in no layer, and source importing test code, fail", () => {
  const root = tree({
    "src/gadgets/thing.ts": `export const t = 1;\n`,
    "src/core/x.ts": `import { sim } from "../../test/support/sim.ts";\nexport const y = sim;\n`,
    "test/support/sim.ts": `export const sim = 1;\n`,
  });
  expect(checkLayers(root)).toEqual([
    "outside: src/gadgets/thing.ts is in no layer (add its folder to LAYERS in scripts/check-layers.ts)",
    "outside: src/core/x.ts imports test/support/sim.ts, which is not source of src/, agent/ or web/",
  ]);
});
