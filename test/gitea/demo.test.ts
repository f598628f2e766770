/**
 * `nimbus up --demo gitea` as a user runs it (bin/nimbus, as root): a simulated Gitea job goes
 * webhook → ephemeral runner registered by the control plane → `.runner` file in a sandbox → the
 * act_runner stand-in → completed, its output shown; a stray argument is refused.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePortBase } from "../support/stack.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");

test("nimbus up --demo gitea: the Gitea job runs in a sandbox and completes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-gitea-demo-"));
  try {
    const p = Bun.spawn([BIN, "up", "--demo", "gitea", "--exit-after-sample", "--data-dir", dir, "--port-base", String(await freePortBase())], { stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    if (code !== 0) console.log(out, err);
    expect(out).toContain("Hello from a Gitea runner on Nimbus");
    expect(out).toMatch(/Gitea says: success; Nimbus job gt-demo-\d+: succeeded/);
    expect(err).toContain("the Gitea simulator");
    expect(code).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

test("nimbus up with a stray argument, or gitea without --demo, is refused before anything starts", async () => {
  for (const args of [["up", "gitea"], ["up", "--demo", "gitlab"]]) {
    const p = Bun.spawn([BIN, ...args, "--data-dir", "/nonexistent-nimbus-demo"], { stdout: "pipe", stderr: "pipe" });
    const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
    expect(code).not.toBe(0);
    expect(err).toContain("up takes only --demo gitea");
  }
});
