/**
 * The driver conformance suite: the same scenarios against every Driver (sandbox, qemu, ...).
 *
 *   runDriverConformance({ name: "qemu", driver: () => new QemuDriver(...), timeoutMs: 60_000 });
 *
 * Scenarios boot as few executions as they can (each VM boot under software emulation costs
 * seconds): one run checks exit code, env, argv fidelity, stdout/stderr and the unprivileged user;
 * one checks live streaming and exit 0; one checks a read-only mount of a host directory; one
 * checks stop, list and idempotent destroy.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseLabels, type Requirements } from "../../src/jobs/labels.ts";
import type { Driver, ExitResult, OutputStream, RunSpec } from "../../agent/drivers/types.ts";
import { instanceName, INSTANCE_PREFIX } from "../../agent/drivers/types.ts";

export interface ConformanceOptions {
  name: string;
  driver: () => Driver | Promise<Driver>;
  requirements?: Requirements;
  /** Per scenario; VMs under software emulation need tens of seconds. */
  timeoutMs?: number;
  /** Why this driver cannot run here: the suite is registered and reported as skipped, with the reason in its title. */
  skip?: string;
}

export interface Captured {
  chunks: { stream: OutputStream; text: string; at: number }[];
  text(stream: OutputStream): string;
}

export function capture(): Captured & { sink: (s: OutputStream, t: string) => void } {
  const chunks: Captured["chunks"] = [];
  return {
    chunks,
    sink: (stream, text) => chunks.push({ stream, text, at: performance.now() }),
    text: (s) => chunks.filter((c) => c.stream === s).map((c) => c.text).join(""),
  };
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(20);
  }
}

export function runDriverConformance(opts: ConformanceOptions): void {
  const timeout = opts.timeoutMs ?? 30_000;
  const suite = opts.skip ? describe.skip : describe;
  suite(opts.skip ? `driver conformance: ${opts.name} (skipped: ${opts.skip})` : `driver conformance: ${opts.name}`, () => {
    let driver: Driver;
    let root: string;
    const created: RunSpec[] = [];
    const spec = (tag: string, command: string[], env: Record<string, string> = {}): RunSpec => {
      const jobId = `conf${tag}${Date.now().toString(36)}`;
      const s: RunSpec = { jobId, attempt: 1, command, env, dir: join(root, jobId), requirements: opts.requirements ?? parseLabels(["nimbus"]) };
      created.push(s);
      return s;
    };

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), `nimbus-conf-${opts.name}-`));
      driver = await opts.driver();
    }, timeout); // making a driver may boot VMs (a warm pool): bun's 5 s hook default is a timing bound
    afterAll(async () => {
      for (const s of created) {
        const inst = (await driver.list()).find((i) => i.name === instanceName(s.jobId, s.attempt));
        if (inst) await driver.destroy(inst).catch(() => undefined);
      }
      rmSync(root, { recursive: true, force: true });
    }, timeout);

    test("probe says it can run here", async () => {
      const p = await driver.probe();
      expect(p.detail.length).toBeGreaterThan(0);
      expect(p.ok).toBe(true);
    }, timeout);

    test("prepare twice is fine and names the instance after the job", async () => {
      const s = spec("prep", ["true"]);
      const a = await driver.prepare(s);
      const b = await driver.prepare(s);
      expect(a.name).toBe(instanceName(s.jobId, 1));
      expect(b.name).toBe(a.name);
      expect(a.name.startsWith(INSTANCE_PREFIX)).toBe(true);
      await driver.destroy(b);
    }, timeout);

    test("runs a command: exit code, env, argv, stdout/stderr, unprivileged user", async () => {
      const script = 'printf "%s|" "$@"; echo; echo "env=$NIMBUS_CONF"; echo "uid=$(id -u)"; echo oops >&2; exit 7';
      const s = spec("run", ["sh", "-c", script, "sh", "a b", "c'd", 'e"f', "g\nh", "$HOME"], { NIMBUS_CONF: "x y=z" });
      const inst = await driver.prepare(s);
      const out = capture();
      const exec = await driver.start(inst, s, out.sink);
      const res = await exec.exited;
      expect(res.exitCode).toBe(7);
      expect(out.text("out")).toContain(`a b|c'd|e"f|g\nh|$HOME|`);
      expect(out.text("out")).toContain("env=x y=z");
      expect(out.text("out")).not.toContain("uid=0\n");
      expect(out.text("out")).toMatch(/uid=\d+/);
      expect(out.text("err")).toContain("oops");
      expect(out.text("out")).not.toContain("oops");
      await driver.destroy(inst);
    }, timeout);

    test("streams output live and reports exit 0", async () => {
      const s = spec("live", ["sh", "-c", "echo first; sleep 2; echo second"]);
      const inst = await driver.prepare(s);
      const out = capture();
      const exec = await driver.start(inst, s, out.sink);
      let endedAt = 0;
      const res: ExitResult = await exec.exited.then((r) => ((endedAt = performance.now()), r));
      expect(res.exitCode).toBe(0);
      const first = out.chunks.find((c) => c.stream === "out" && c.text.includes("first"));
      expect(first).toBeDefined();
      expect(endedAt - first!.at).toBeGreaterThan(1000);
      expect(out.text("out")).toContain("second");
      await driver.destroy(inst);
    }, timeout);

    test("mounts: a host directory is visible read-only at its target; a dynamically linked program in it runs", async () => {
      const src = join(root, "tools");
      mkdirSync(src, { recursive: true, mode: 0o755 });
      chmodSync(root, 0o755);
      writeFileSync(join(src, "hello.txt"), "hello from the host\n", { mode: 0o644 });
      copyFileSync("/bin/true", join(src, "dyn-true"));
      chmodSync(join(src, "dyn-true"), 0o755);
      const script = "cat /mnt/tools/hello.txt; /mnt/tools/dyn-true && echo dyn-ok; touch /mnt/tools/x 2>/dev/null && echo writable || echo read-only";
      const s: RunSpec = { ...spec("mnt", ["sh", "-c", script]), mounts: [{ source: src, target: "/mnt/tools" }] };
      const inst = await driver.prepare(s);
      const out = capture();
      const res = await (await driver.start(inst, s, out.sink)).exited;
      expect({ code: res.exitCode, out: out.text("out") }).toEqual({ code: 0, out: "hello from the host\ndyn-ok\nread-only\n" });
      await driver.destroy(inst);
    }, timeout);

    test("stop kills everything; list finds the instance; destroy is idempotent", async () => {
      const s = spec("stop", ["sh", "-c", "sleep 600 & echo started; sleep 600"]);
      const inst = await driver.prepare(s);
      const out = capture();
      const exec = await driver.start(inst, s, out.sink);
      await waitUntil(() => out.text("out").includes("started"), timeout / 2);
      expect((await driver.list()).some((i) => i.name === inst.name)).toBe(true);
      await driver.stop(inst);
      const res = await exec.exited;
      expect(res.exitCode).not.toBe(0);
      if (exec.pid) expect(alive(exec.pid)).toBe(false);
      await driver.stop(inst);
      await driver.destroy(inst);
      await driver.destroy(inst);
      expect((await driver.list()).some((i) => i.name === inst.name)).toBe(false);
    }, timeout);
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}
