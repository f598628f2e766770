/**
 * `npm run build`'s binaries, run as a host would run them: the compiled nimbus brings up the whole
 * stack (its services through `nimbus service NAME`, the agent through nimbus-agent beside it), serves
 * the dashboard from inside itself, and runs a job; `nimbus install --systemd` writes units that
 * systemd-analyze accepts and settings files the shell and systemd read back exactly.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinaries, type BuiltBinaries } from "../../scripts/build.ts";
import { waitFor } from "../support/net.ts";

let dir: string;
let bin: BuiltBinaries;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "nimbus-bin-"));
  bin = await buildBinaries(join(dir, "bin"));
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[], env: Record<string, string> = {}) => Bun.spawnSync(argv, { cwd: dir, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });

test("the nimbus binary is the CLI, and runs a named service; a wrong name is a usage error", () => {
  expect(run([bin.nimbus, "--version"]).stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+/);
  expect(run([bin.nimbus, "--help"]).stdout.toString()).toContain("install");
  const bad = run([bin.nimbus, "service", "bogus"]);
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr.toString()).toContain("control, logs, cache, registry");
  // A service started without its settings says which are missing, as from a checkout.
  const missing = run([bin.nimbus, "service", "control"], { NIMBUS_AUTH_SECRET: "", NIMBUS_CONFIG: "" });
  expect(missing.exitCode).not.toBe(0);
  expect(missing.stderr.toString() + missing.stdout.toString()).toContain("NIMBUS_");
});

test("the compiled stack comes up from a directory with no checkout, serves its dashboard and runs a job", async () => {
  const data = join(dir, "data");
  // Only the two binaries: nothing of the source tree beside them.
  const host = join(dir, "host");
  mkdirSync(host);
  cpSync(bin.nimbus, join(host, "nimbus"));
  cpSync(bin.agent, join(host, "nimbus-agent"));
  const up = Bun.spawn([join(host, "nimbus"), "up", "--data-dir", data, "--port-base", "7960"], { cwd: host, stdout: "pipe", stderr: "pipe" });
  let out = "";
  const read = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s as unknown as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(c);
  };
  const reading = Promise.all([read(up.stdout), read(up.stderr)]);
  try {
    await waitFor(() => out.includes("Nimbus is up") || up.exitCode !== null, 90_000, "the compiled stack");
    expect(up.exitCode).toBeNull();
    // Its follow-up hints name the binary, not the checkout's wrapper.
    expect(out).toContain(`${join(host, "nimbus")} status`);
    const page = await fetch("http://127.0.0.1:7960/");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("/ui/app.js");
    const js = await fetch("http://127.0.0.1:7960/ui/app.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const job = run([join(host, "nimbus"), "run", "--data-dir", data, "--", "sh", "-c", "echo compiled-$((6*7))"]);
    expect(job.stdout.toString()).toContain("compiled-42");
    expect(job.exitCode).toBe(0);
    // Every process of the stack is one of the two binaries.
    const state = JSON.parse(readFileSync(join(data, "state.json"), "utf8")) as { services: Record<string, number> };
    for (const [name, pid] of Object.entries(state.services)) {
      if (name === "nats") continue;
      const exe = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
      expect([join(host, "nimbus"), join(host, "nimbus-agent")]).toContain(exe!);
    }
  } finally {
    up.kill("SIGINT");
    await up.exited;
    await reading;
  }
  expect(out).toContain("Nimbus stopped");
}, 180_000);

const verify = (root: string, unit: string) => Bun.spawnSync(["systemd-analyze", "verify", `--root=${root}`, `/etc/systemd/system/${unit}`], { stdout: "pipe", stderr: "pipe" });
const hasAnalyze = Bun.spawnSync(["sh", "-c", "command -v systemd-analyze"]).exitCode === 0;

test("install --systemd writes a unit systemd accepts and a 0600 settings file it keeps", () => {
  const root = join(dir, "root");
  const secret = "pa'ss \"w$rd`\\\nline2";
  // The services read the fleet's secret; the agent its own token instead.
  const env = { NIMBUS_AUTH_SECRET: secret, NIMBUS_AGENT_TOKEN: secret, NIMBUS_NATS_URL: "nats://10.0.0.1:4222,nats://10.0.0.2:4222" };
  for (const name of ["control", "logs", "cache", "registry", "agent"]) {
    const r = run([bin.nimbus, "install", "--systemd", name, "--root", root, "--bin", "/usr/local/bin/nimbus"], env);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const unit = readFileSync(join(root, `etc/systemd/system/nimbus-${name}.service`), "utf8");
    expect(unit).toContain(`EnvironmentFile=/etc/nimbus/${name}.env`);
    expect(unit).toContain(`StateDirectory=nimbus/${name}`);
    expect(unit).toMatch(/^Restart=always$/m);
    if (name === "agent") {
      expect(unit).toContain("ExecStart=/usr/local/bin/nimbus-agent");
      expect(unit).toContain("User=root");
    } else {
      expect(unit).toContain(`ExecStart=/usr/local/bin/nimbus service ${name}`);
      expect(unit).toContain("DynamicUser=yes");
    }
    const settings = join(root, `etc/nimbus/${name}.env`);
    expect(statSync(settings).mode & 0o777).toBe(0o600);
    // The shell reads the written values back exactly (systemd's parser quotes the same way).
    const key = name === "agent" ? "NIMBUS_AGENT_TOKEN" : "NIMBUS_AUTH_SECRET";
    const back = Bun.spawnSync(["bash", "-c", `set -a; . '${settings}'; printf %s "$${key}"; printf '\\0%s' "$NIMBUS_NATS_URL"`], { env: {}, stdout: "pipe" });
    expect(back.stdout.toString().split("\0")).toEqual([secret, env.NIMBUS_NATS_URL]);
  }
  // The agent's data path is the unit's own, not a line in the settings file.
  expect(readFileSync(join(root, "etc/nimbus/agent.env"), "utf8")).not.toMatch(/^#?NIMBUS_AGENT_DIR=/m);
  expect(readFileSync(join(root, "etc/nimbus/control.env"), "utf8")).toContain("# REQUIRED");
  // A second install keeps the operator's file; --force rewrites it.
  writeFileSync(join(root, "etc/nimbus/cache.env"), "NIMBUS_CACHE_PORT=1234\n", { mode: 0o600 });
  const again = ["install", "--systemd", "cache", "--root", root, "--bin", "/usr/local/bin/nimbus"];
  expect(run([bin.nimbus, ...again]).stdout.toString()).toContain("kept");
  expect(readFileSync(join(root, "etc/nimbus/cache.env"), "utf8")).toBe("NIMBUS_CACHE_PORT=1234\n");
  run([bin.nimbus, ...again, "--force"]);
  expect(readFileSync(join(root, "etc/nimbus/cache.env"), "utf8")).toContain("#NIMBUS_CACHE_PORT=");
  // An unknown unit, or none, is a usage error naming the choices.
  const bad = run([bin.nimbus, "install", "--systemd", "nats", "--root", root]);
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr.toString()).toContain("control, logs, cache, registry, agent");
  expect(existsSync(join(root, "etc/systemd/system/nimbus-nats.service"))).toBe(false);
  if (!hasAnalyze) return console.warn("systemd-analyze not installed: unit syntax not verified");
  // systemd-analyze needs the targets the units name and executables at their paths.
  cpSync("/lib/systemd/system", join(root, "lib/systemd/system"), { recursive: true, dereference: false });
  mkdirSync(join(root, "usr/local/bin"), { recursive: true });
  for (const b of ["nimbus", "nimbus-agent"]) writeFileSync(join(root, "usr/local/bin", b), "#!/bin/sh\n", { mode: 0o755 });
  for (const name of ["control", "logs", "cache", "registry", "agent"]) {
    const r = verify(root, `nimbus-${name}.service`);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  }
}, 60_000);
