import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../core/errors.ts";
import { ROLES } from "../../auth/principal.ts";
import type { LedgerEntry } from "../../auth/ledger.ts";
import { bootstrapToken, parseMintRequest, type Minted } from "../../auth/mint.ts";
import { TokenLedger } from "../../auth/ledger-store.ts";
import { connectNats } from "../../nats/connect.ts";
import { ensureTokenLedger } from "../../nats/topology.ts";
import { readState } from "../../up/state.ts";
import type { CliContext } from "../context.ts";
import type { Command } from "../command.ts";
import { printListing } from "../output.ts";

/** A setting from the environment, else the local stack's file of that name in the data directory. */
function fromEnvOrDataDir(ctx: CliContext, env: string, file: string): string | undefined {
  const path = join(ctx.dataDir, file);
  return ctx.env[env] || (existsSync(path) ? readFileSync(path, "utf8").trim() : undefined);
}

/** `--bootstrap`: sign with the secret itself and record the token in the ledger over NATS (no API, no token needed). */
async function mintBootstrap(ctx: CliContext, body: unknown): Promise<Minted> {
  const secret = fromEnvOrDataDir(ctx, "NIMBUS_AUTH_SECRET", "auth-secret");
  if (!secret) throw new AppError("unavailable", `--bootstrap signs with the fleet's secret: set NIMBUS_AUTH_SECRET (or run \`nimbus up\` once to create ${join(ctx.dataDir, "auth-secret")})`);
  const natsUrl = ctx.env.NIMBUS_NATS_URL || readState(ctx.dataDir)?.natsUrl;
  if (!natsUrl) throw new AppError("unavailable", "--bootstrap records the token in the ledger over NATS: set NIMBUS_NATS_URL (and NIMBUS_NATS_USER / NIMBUS_NATS_PASSWORD)");
  // The local stack's control user (its password is kept in the data directory) unless the environment names one.
  const user = ctx.env.NIMBUS_NATS_USER || (ctx.env.NIMBUS_NATS_TOKEN ? "" : "control");
  const password = ctx.env.NIMBUS_NATS_USER ? ctx.env.NIMBUS_NATS_PASSWORD : fromEnvOrDataDir(ctx, "NIMBUS_NATS_PASSWORD", join("nats-users", "control"));
  const nc = await connectNats({ url: natsUrl, user: user || undefined, password: user ? password : undefined, token: ctx.env.NIMBUS_NATS_TOKEN || undefined, name: "nimbus-token-bootstrap" });
  try {
    return await bootstrapToken({ secret, ledger: new TokenLedger(await ensureTokenLedger(nc)) }, parseMintRequest(body));
  } finally {
    await nc.close();
  }
}

export const tokenMint: Command = {
  name: "token mint",
  summary: "mint a token for a role (and an organisation), recorded in the ledger",
  usage: "token mint --role ROLE --name NAME [--org ORG] [--ttl 30d] [--service] [--bootstrap] [--json]\n       token mint --kind enroll [--ttl 1h] [--name NOTE] [--json]",
  details: `Roles: ${ROLES.join(", ")}. org-admin, member and viewer tokens need --org (an org-admin's own
organisation is the default for its tokens); operator and agent tokens belong to no organisation. NAME is
who the token is for; an agent token is bound to the agent id NAME. --service marks a service account
(a non-human org-admin, member or viewer). --ttl: 90s, 15m, 12h, 30d (default 30d, or less: never past your own token's expiry).

The token is minted by the control plane with your token (NIMBUS_TOKEN, or the local stack's admin token):
operators mint any role; org-admins mint org-admin, member and viewer tokens for their own organisation;
a token never outlives the token that mints it. It is printed once; the ledger keeps only its record.

--bootstrap mints without the API, for a fleet's first operator token: it signs with NIMBUS_AUTH_SECRET
and records the token over NIMBUS_NATS_URL as NIMBUS_NATS_USER / NIMBUS_NATS_PASSWORD (defaults: the local
stack's control user, from the data directory; NIMBUS_NATS_TOKEN for a server with one shared token). --json prints {token, entry}.

--kind enroll (operators only) mints a one-time enrollment token: a new host spends it on
\`nimbus agent join --control URL --token T\` to get its own agent token and settings; used once, then
refused. --name is a note for the ledger (default "enroll"); --ttl defaults to 1h.`,
  options: { role: { type: "string" }, org: { type: "string" }, name: { type: "string" }, ttl: { type: "string" }, service: { type: "boolean" }, bootstrap: { type: "boolean" }, kind: { type: "string" } },
  async run(ctx, v) {
    if (v.kind !== undefined) {
      if (v.kind !== "enroll") throw new AppError("bad_request", `--kind: unknown kind "${String(v.kind)}"; the only kind is enroll (other tokens take --role)`);
      if (v.role !== undefined || v.org !== undefined || v.service) throw new AppError("bad_request", "--kind enroll takes no --role, --org or --service: an enrollment token belongs to no organisation");
      v = { ...v, role: "enroll", name: v.name ?? "enroll", ttl: v.ttl ?? "1h" };
    }
    if (!v.role) throw new AppError("bad_request", `--role is required: one of ${ROLES.join(", ")}`);
    if (!v.name) throw new AppError("bad_request", "--name is required: who the token is for (an agent token: the agent id)");
    const body = { role: String(v.role), name: String(v.name), ...(v.ttl === undefined ? {} : { ttl: String(v.ttl) }), ...(v.org === undefined ? {} : { org: String(v.org) }), ...(v.service ? { service: true } : {}) };
    const minted = v.bootstrap ? await mintBootstrap(ctx, body) : await (await ctx.client()).post<Minted>("/api/tokens", body);
    ctx.out(ctx.json ? JSON.stringify(minted, null, 2) : minted.token);
    return 0;
  },
};

const stateOf = (t: LedgerEntry, now: number) => (t.revoked ? "revoked" : t.used ? "used" : Date.parse(t.expiresAt) <= now ? "expired" : "active");

export const tokenList: Command = {
  name: "token list",
  summary: "list the tokens in the ledger (your organisation's; an operator's: all, or --org)",
  usage: "token list [--org ORG] [--json]",
  details: "Shows each token's record, never the token itself: id, role, organisation, name, state, expiry, who minted it.",
  options: { org: { type: "string" } },
  async run(ctx, v) {
    const q = v.org ? `?org=${encodeURIComponent(String(v.org))}` : "";
    const { tokens } = await (await ctx.client()).get<{ tokens: LedgerEntry[] }>(`/api/tokens${q}`);
    const now = Date.now();
    return printListing(ctx, tokens, {
      empty: "no tokens",
      row: (t) => ({ id: t.id, role: t.role, org: t.org, name: t.sub + (t.service ? " (service)" : ""), state: stateOf(t, now), expires: t.expiresAt.slice(0, 16).replace("T", " "), "minted by": t.mintedBy.sub }),
      columns: ["id", "role", "org", "name", "state", "expires", "minted by"],
    });
  },
};

export const tokenRevoke: Command = {
  name: "token revoke",
  summary: "revoke a token: refused by every service within seconds",
  usage: "token revoke ID [--json]",
  details: "ID is the token's id (t-…, from token list). Org-admins revoke their organisation's tokens; operators any.",
  options: {},
  positionals: { min: 1, max: 1, name: "ID" },
  async run(ctx, _v, [id]) {
    const { token } = await (await ctx.client()).post<{ token: LedgerEntry }>(`/api/tokens/${encodeURIComponent(id!)}/revoke`);
    ctx.out(ctx.json ? JSON.stringify(token, null, 2) : `revoked ${token.id}`);
    return 0;
  },
};
