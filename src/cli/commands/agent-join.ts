/**
 * `nimbus agent join`: on a new host, spend an enrollment token at the control plane
 * (POST /api/agents/enroll), write the agent's settings file (the format `nimbus install` writes,
 * 0600) and start the agent in the foreground, or print how to install it as a service.
 */
import { existsSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { AppError } from "../../core/errors.ts";
import { agentArgv } from "../../core/binaries.ts";
import { checkAgentId } from "../../nats/permissions.ts";
import { writePrivate } from "../../up/state.ts";
import type { EnrollResponse } from "../../protocol/agent-enroll.ts";
import { SERVICES } from "../services.ts";
import { envFileText } from "../install/env-file.ts";
import { readError, unreachable } from "../errors.ts";
import { UsageError } from "../context.ts";
import type { Command } from "../command.ts";

const ROOT = resolve(import.meta.dir, "../../..");
export const DEFAULT_AGENT_SETTINGS = "/etc/nimbus/agent.env";
/** The agent buys its NATS user with its token (decentralized auth): a shell's NATS user must not shadow that. */
const NATS_USER_SETTINGS = ["NIMBUS_NATS_USER", "NIMBUS_NATS_PASSWORD", "NIMBUS_NATS_TOKEN", "NIMBUS_NATS_JWT", "NIMBUS_NATS_SEED"];

/** This host's name as an agent id, with a random tail (as the agent makes its own). */
const proposedId = () => `${hostname().toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 40)}-${randomBytes(3).toString("hex")}`;

async function enroll(control: string, token: string, agentId: string): Promise<EnrollResponse> {
  const url = `${control}/api/agents/enroll`;
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ agentId }), signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw unreachable("the control plane", url, e);
  }
  if (!res.ok) throw await readError(res);
  return (await res.json()) as EnrollResponse;
}

/** Run the agent with `settings` over this environment until it exits; a signal to us is passed on (it drains). */
async function runAgent(env: Record<string, string | undefined>, settings: Record<string, string>): Promise<number> {
  const clean = Object.fromEntries(Object.entries(env).filter(([k]) => !NATS_USER_SETTINGS.includes(k)));
  const proc = Bun.spawn(agentArgv(ROOT), { env: { ...clean, ...settings }, stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  const pass = (sig: NodeJS.Signals) => () => proc.kill(sig);
  const onInt = pass("SIGINT"), onTerm = pass("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const code = await proc.exited;
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  return code;
}

export const agentJoin: Command = {
  name: "agent join",
  summary: "join this host to a fleet with an enrollment token: write the agent's settings and start it",
  usage: "agent join --control URL --token T [--id ID] [--settings FILE] [--no-start] [--force]",
  details: `Spends the one-time enrollment token T (\`nimbus token mint --kind enroll\` on the fleet) at the
control plane URL, which mints this agent's own token (bound to ID; default this host's name with a
random tail) and names the NATS, log, cache and registry endpoints it should use. Those are written to
FILE (default ${DEFAULT_AGENT_SETTINGS}, 0600, the format \`nimbus install --systemd agent\` writes and keeps),
with the other agent settings this shell's environment sets (NIMBUS_AGENT_DRIVERS, NIMBUS_AGENT_DIR, ...).
The agent gets its NATS user from the control plane (decentralized auth: \`nimbus up --nats-auth jwt\`).
An existing FILE is kept (and the token not spent) unless --force.
Then the agent starts in the foreground (until a signal: it drains, then exits). --no-start prints the
commands that install it as a service instead. The token itself is never printed.`,
  options: { control: { type: "string" }, token: { type: "string" }, id: { type: "string" }, settings: { type: "string" }, "no-start": { type: "boolean" }, force: { type: "boolean" } },
  async run(ctx, v) {
    if (typeof v.control !== "string" || !v.control) throw new UsageError("--control URL is required: the fleet's control plane");
    if (typeof v.token !== "string" || !v.token) throw new UsageError("--token T is required: an enrollment token (nimbus token mint --kind enroll)");
    let control: string;
    try {
      const u = new URL(v.control);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
      control = u.origin + u.pathname.replace(/\/+$/, "");
    } catch {
      throw new UsageError(`--control: not an http(s) URL: ${JSON.stringify(String(v.control).slice(0, 100))}`);
    }
    const agentId = checkAgentId(typeof v.id === "string" ? v.id : proposedId());
    const path = resolve(typeof v.settings === "string" ? v.settings : DEFAULT_AGENT_SETTINGS);
    if (existsSync(path) && !v.force) throw new AppError("conflict", `${path} exists: --force replaces it (the enrollment token was not spent)`);
    const r = await enroll(control, v.token, agentId);
    const settings = { ...r.settings, NIMBUS_AGENT_CONTROL_URL: control };
    const fileEnv = { ...Object.fromEntries(Object.entries(ctx.env).filter(([k]) => !NATS_USER_SETTINGS.includes(k))), ...settings };
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writePrivate(path, envFileText("agent", SERVICES.agent!, fileEnv, {}));
    const start = !v["no-start"];
    if (ctx.json) ctx.out(JSON.stringify({ agentId: r.agentId, tokenId: r.tokenId, settings: path, started: start }));
    else ctx.out(`joined as agent ${r.agentId} (token ${r.tokenId}); wrote ${path} (0600)`);
    if (!start) {
      if (!ctx.json) {
        const copy = path === DEFAULT_AGENT_SETTINGS ? [] : [`cp ${path} ${DEFAULT_AGENT_SETTINGS}`];
        ctx.out(["next, to run it as a service:", ...copy, "nimbus install --systemd agent   # keeps the settings file", "systemctl daemon-reload && systemctl enable --now nimbus-agent"].join("\n  "));
      }
      return 0;
    }
    return runAgent(ctx.env, settings);
  },
};
