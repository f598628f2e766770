import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../core/errors.ts";
import { ROLES, type Role } from "../../auth/principal.ts";
import { mintToken, parseTtl } from "../../auth/tokens.ts";
import type { Command } from "../command.ts";

export const tokenMint: Command = {
  name: "token mint",
  summary: "mint a token for a role (and an organisation)",
  usage: "token mint --role ROLE [--org ORG] [--sub NAME] [--ttl 30d] [--json]",
  details: `Signs with NIMBUS_AUTH_SECRET, or the local stack's secret in the data directory.
Roles: ${ROLES.join(", ")}. org-admin, member and viewer tokens need --org; operator and agent tokens
belong to no organisation (an agent token is bound to the agent id given as --sub).`,
  options: { role: { type: "string" }, org: { type: "string" }, sub: { type: "string" }, ttl: { type: "string" } },
  async run(ctx, v) {
    const role = String(v.role ?? "operator") as Role;
    if (!ROLES.includes(role)) throw new AppError("bad_request", `--role must be one of ${ROLES.join(", ")}, not ${JSON.stringify(role)}`);
    const secretFile = join(ctx.dataDir, "auth-secret");
    const secret = ctx.env.NIMBUS_AUTH_SECRET ?? (existsSync(secretFile) ? readFileSync(secretFile, "utf8").trim() : undefined);
    if (!secret) throw new AppError("unavailable", `no signing secret: set NIMBUS_AUTH_SECRET or run \`nimbus up\` once to create ${secretFile}`);
    const sub = String(v.sub ?? (role === "operator" ? "admin" : role));
    const ttl = parseTtl(String(v.ttl ?? "30d"));
    const org = v.org === undefined ? undefined : String(v.org);
    const t = await mintToken(secret, { sub, role, org, ttlSeconds: ttl });
    ctx.out(ctx.json ? JSON.stringify({ id: t.id, role, org: org ?? null, sub, expiresAt: new Date(t.expiresAt * 1000).toISOString(), token: t.token }) : t.token);
    return 0;
  },
};
