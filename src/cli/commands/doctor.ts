import type { Command } from "../command.ts";
import { exitCodeOf, runChecks, type CheckResult } from "../doctor/checks.ts";
import { hostProbe } from "../doctor/probe.ts";
import { ports } from "../../up/supervisor.ts";
import { isAlive, readState } from "../../up/state.ts";

const MARK: Record<CheckResult["verdict"], string> = { pass: "ok  ", warn: "warn", fail: "FAIL" };

export const doctor: Command = {
  name: "doctor",
  summary: "check this host's prerequisites for Nimbus's services and agents, one line each with the fix",
  usage: "doctor [--port-base N] [--nats-monitor URL] [--json]",
  details: `Checks KVM access, /dev/net/tun, nftables, bubblewrap, qemu and firecracker, cgroup v2, the kernel
version, free disk in the data dir, NATS's health and this host's clock against it, and that the ports
\`nimbus up\` uses are free. NATS is asked through its monitoring endpoint: the running stack's of this
data dir, or --nats-monitor (a fleet host: the server's http port, e.g. http://nats-1:8222).
ok: fine; warn: Nimbus runs, but slower or without a feature (each line says which); FAIL: what needs it
will not start. Exits 1 when any check fails.`,
  options: { "port-base": { type: "string" }, "nats-monitor": { type: "string" } },
  async run(ctx, v) {
    const state = readState(ctx.dataDir);
    const running = !!state && isAlive(state.pid);
    const base = Number(v["port-base"] ?? ctx.env.NIMBUS_PORT_BASE ?? 7070);
    if (!Number.isInteger(base) || base < 1 || base > 65_530) {
      ctx.err("nimbus doctor: --port-base must be a port number (1-65530)");
      return 2;
    }
    const monitor = (v["nats-monitor"] as string | undefined) ?? (running ? state!.natsMonitorUrl : undefined);
    const results = await runChecks(hostProbe, { dataDir: ctx.dataDir, ports: ports(base), stackRunning: running && v["port-base"] === undefined, natsMonitorUrl: monitor });
    if (ctx.json) return ctx.out(JSON.stringify({ ok: exitCodeOf(results) === 0, checks: results }, null, 2)), exitCodeOf(results);
    const width = Math.max(...results.map((r) => r.id.length));
    for (const r of results) {
      ctx.out(`${MARK[r.verdict]}  ${r.id.padEnd(width)}  ${r.detail}`);
      if (r.fix) ctx.out(`      ${" ".repeat(width)}  needed by ${r.neededBy}\n      ${" ".repeat(width)}  fix: ${r.fix}`);
    }
    return exitCodeOf(results);
  },
};
