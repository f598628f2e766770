/**
 * Ephemeral forge runners from the control plane's side (issue #16 part 4), against the simulator:
 * mint registers the runner named after (job, attempt) and hands back a `.runner` file without the
 * registration token; the act_runner stand-in takes one task with it; a re-mint replaces a leftover
 * runner of the same name; remove deletes it (or finds it gone); a task given to another runner shows
 * in the forge's listing as the pairing; bad labels, a foreign job and a forge in trouble are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseForges, type ForgeConnection } from "../../src/gitea/config.ts";
import { mintForgeRunner, removeForgeRunner } from "../../src/gitea/runners.ts";
import { parseRunnerFile } from "../../src/gitea/runner-file.ts";
import { isAppError } from "../../src/core/errors.ts";
import type { JobRecord } from "../../src/jobs/record.ts";
import { startGiteaSim, type GiteaSim } from "../gitea-sim/sim.ts";

const STANDIN = resolve(import.meta.dir, "../gitea-sim/runner.ts");
let sim: GiteaSim;
let forge: ForgeConnection;
const dirs: string[] = [];

beforeAll(async () => {
  sim = await startGiteaSim({ kind: "gitea" });
  forge = parseForges(JSON.stringify([{ id: "tea", kind: "gitea", url: sim.url, token: sim.rest.apiToken, webhookSecret: "w".repeat(20), org: "acme" }]))[0]!;
});
afterAll(async () => {
  await sim?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function jobFor(simJobId: number, labels: string[], attempt = 1, forgeId = "tea"): JobRecord {
  return { id: `gt-${forgeId}-${simJobId}`, attempt, labels, forge: { forgeId, kind: "gitea", jobId: simJobId, runId: 1, repo: "acme/app", receivedAt: 0, via: "webhook", runners: [] } } as unknown as JobRecord;
}

async function runStandin(file: string) {
  const dir = mkdtempSync(join(tmpdir(), "gitea-runner-"));
  dirs.push(dir);
  writeFileSync(join(dir, ".runner"), file);
  const p = Bun.spawn([process.execPath, STANDIN, "daemon", "--once"], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { ...process.env, STANDIN_POLL_MS: "50", STANDIN_FETCH_TIMEOUT_MS: "10000" } });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

const codeOf = (p: Promise<unknown>) => p.then(() => "ok", (e) => (isAppError(e) ? e.code : String(e)));

describe("mint and remove", () => {
  test("mint: the runner is registered ephemeral with :host labels; the .runner file carries its own token only", async () => {
    const sj = sim.model.addJob({ repo: "acme/app", labels: ["nimbus", "nimbus-2vcpu-8gb"] });
    const m = await mintForgeRunner(forge, jobFor(sj.id, ["nimbus", "nimbus-2vcpu-8gb"]));
    expect(m.runnerName).toBe(`nimbus-gt-tea-${sj.id}-1`);
    const regToken = sim.model.registrationToken({ level: "instance" });
    expect(m.file).not.toContain(regToken);
    expect(m.file).not.toContain(sim.rest.apiToken);
    const f = parseRunnerFile(m.file);
    expect(f).toMatchObject({ name: m.runnerName, address: sim.url, labels: ["nimbus:host", "nimbus-2vcpu-8gb:host"], ephemeral: true, id: m.runnerId });
    expect(sim.model.runners.get(m.runnerId)).toMatchObject({ name: m.runnerName, ephemeral: true, token: f.token, deleted: false });

    const r = await runStandin(m.file);
    expect(r.code).toBe(0);
    expect(sim.model.jobs.get(sj.id)).toMatchObject({ status: "success", runnerName: m.runnerName });
    expect(await removeForgeRunner(forge, m.runnerId)).toBe("gone"); // the forge dropped the ephemeral runner after its task
  }, 30_000);

  test("a second mint for the same attempt replaces the leftover runner; remove deletes a live one", async () => {
    const sj = sim.model.addJob({ repo: "acme/app", labels: ["nimbus", "twice"] });
    const a = await mintForgeRunner(forge, jobFor(sj.id, ["nimbus", "twice"]));
    const b = await mintForgeRunner(forge, jobFor(sj.id, ["nimbus", "twice"]));
    expect(b.runnerId).not.toBe(a.runnerId);
    const live = [...sim.model.runners.values()].filter((r) => r.name === a.runnerName && !r.deleted);
    expect(live.map((r) => r.id)).toEqual([b.runnerId]);
    const next = await mintForgeRunner(forge, jobFor(sj.id, ["nimbus", "twice"], 2));
    expect(next.runnerName).toBe(`nimbus-gt-tea-${sj.id}-2`);
    expect(await removeForgeRunner(forge, b.runnerId)).toBe("removed");
    expect(await removeForgeRunner(forge, next.runnerId)).toBe("removed");
    expect([...sim.model.runners.values()].filter((r) => r.name.startsWith(`nimbus-gt-tea-${sj.id}-`) && !r.deleted)).toEqual([]);
    sim.model.jobs.get(sj.id)!.status = "cancelled";
  });

  test("a task given to another runner: ours takes the next waiting job of the same labels, and the forge's listing names the pairing", async () => {
    const first = sim.model.addJob({ repo: "acme/app", labels: ["nimbus", "steal"] });
    const second = sim.model.addJob({ repo: "acme/app", labels: ["nimbus", "steal"] });
    sim.model.stealNext = 1;
    const m = await mintForgeRunner(forge, jobFor(first.id, ["nimbus", "steal"]));
    expect((await runStandin(m.file)).code).toBe(0);
    const listing = (await (await fetch(`${sim.url}/api/v1/admin/actions/jobs`, { headers: { authorization: `token ${sim.rest.apiToken}` } })).json()) as { jobs: any[] };
    const byId = new Map(listing.jobs.map((j) => [j.id, j]));
    expect(byId.get(first.id).runner_name).toStartWith("foreign-");
    expect(byId.get(second.id)).toMatchObject({ runner_name: m.runnerName, conclusion: "success" });
    sim.model.finishForeign();
    expect(sim.model.tasks.get(sim.model.jobs.get(first.id)!.taskId!)!.finals).toBe(1);
  }, 30_000);

  test("refused: a label with a colon, another forge's job, a forge answering 5xx (no runner left behind)", async () => {
    expect(await codeOf(mintForgeRunner(forge, jobFor(1, ["nimbus", "isolation:vm"])))).toBe("bad_request");
    expect(await codeOf(mintForgeRunner(forge, jobFor(1, ["nimbus"], 1, "other")))).toBe("bad_request");
    const before = [...sim.model.runners.values()].filter((r) => !r.deleted).length;
    sim.rest.fail5xx = 2;
    expect(await codeOf(mintForgeRunner(forge, jobFor(5, ["nimbus"])))).toBe("unavailable");
    sim.rest.fail5xx = 0;
    expect([...sim.model.runners.values()].filter((r) => !r.deleted).length).toBe(before);
  });
});
