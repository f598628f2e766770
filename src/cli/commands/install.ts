/**
 * `nimbus install --systemd NAME`: a systemd unit for one of this host's Nimbus processes and its
 * settings file, written under --root (default /). The settings file is never overwritten without
 * --force: it holds the operator's values and secrets.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { AGENT_BINARY, isCompiled } from "../../core/binaries.ts";
import { writePrivate } from "../../up/state.ts";
import { SERVICES } from "../services.ts";
import { envFileText } from "../install/env-file.ts";
import { UNIT_NAMES, unitPlan, type UnitName } from "../install/units.ts";
import { UsageError } from "../context.ts";
import type { Command } from "../command.ts";

const isUnit = (s: string): s is UnitName => (UNIT_NAMES as readonly string[]).includes(s);

/** The binaries the unit runs: --bin, else this compiled binary and the agent beside it, else /usr/local/bin. */
function binaries(bin: string | undefined): { nimbus: string; agent: string } {
  const nimbus = bin ? resolve(bin) : isCompiled() ? process.execPath : "/usr/local/bin/nimbus";
  return { nimbus, agent: join(dirname(nimbus), AGENT_BINARY) };
}

export const install: Command = {
  name: "install",
  summary: "write a systemd unit and settings file for control, logs, cache, registry or agent",
  usage: "install --systemd control|logs|cache|registry|agent [--root DIR] [--bin PATH] [--force]",
  details: `Writes /etc/systemd/system/nimbus-NAME.service and /etc/nimbus/NAME.env (0600), both under --root
(default /, for a host; another directory to look first). The unit runs the binary \`npm run build\` makes
(--bin: the nimbus binary's path; nimbus-agent sits beside it; default this binary when compiled, else
/usr/local/bin/nimbus) with its data in /var/lib/nimbus/NAME. The services run as a dynamic user on a
read-only system and restart on failure; the agent runs as root (KVM, taps, nftables, sandboxes) and
drains on stop. The settings file lists every setting the process reads: values this shell's
environment sets are written, the rest are commented defaults, and REQUIRED marks what must be set.
An existing settings file is kept unless --force. Then: systemctl daemon-reload && systemctl enable --now nimbus-NAME.`,
  options: { systemd: { type: "string" }, root: { type: "string" }, bin: { type: "string" }, force: { type: "boolean" } },
  async run(ctx, v) {
    const name = v.systemd as string | undefined;
    if (name === undefined) throw new UsageError("--systemd NAME is required (the only kind of install there is)");
    if (!isUnit(name)) throw new UsageError(`--systemd: unknown unit "${name}"; one of ${UNIT_NAMES.join(", ")}`);
    const root = resolve((v.root as string | undefined) ?? "/");
    const bin = binaries(v.bin as string | undefined);
    const envFile = `/etc/nimbus/${name}.env`;
    const plan = unitPlan(name, bin, envFile);
    const unitPath = join(root, "etc/systemd/system", plan.file);
    const envPath = join(root, envFile.slice(1));
    mkdirSync(dirname(unitPath), { recursive: true });
    writeFileSync(unitPath, plan.text, { mode: 0o644 });
    chmodSync(unitPath, 0o644);
    const keep = existsSync(envPath) && !v.force;
    if (!keep) {
      mkdirSync(dirname(envPath), { recursive: true, mode: 0o700 });
      writePrivate(envPath, envFileText(name, SERVICES[name]!, ctx.env, plan.fixed));
    }
    const exe = name === "agent" ? bin.agent : bin.nimbus;
    if (ctx.json) {
      ctx.out(JSON.stringify({ unit: unitPath, settings: envPath, settingsKept: keep, binary: exe }, null, 2));
      return 0;
    }
    ctx.out(`wrote ${unitPath}`);
    ctx.out(keep ? `kept ${envPath} (it exists; --force rewrites it)` : `wrote ${envPath} (0600): fill in what it marks REQUIRED`);
    if (root === "/" && !existsSync(exe)) ctx.out(`note: ${exe} does not exist yet: copy it there (npm run build writes artifacts/bin/)`);
    ctx.out(`then: systemctl daemon-reload && systemctl enable --now nimbus-${name}`);
    return 0;
  },
};
