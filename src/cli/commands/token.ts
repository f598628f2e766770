import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../core/errors.ts";
import { mintToken, parseTtl, type TokenKind } from "../../auth/tokens.ts";
import type { Command } from "../command.ts";

export const tokenMint: Command = {
  name: "token mint",
  summary: "mint an admin or agent token",
  usage: "token mint [--kind admin|agent] [--sub NAME] [--ttl 30d] [--json]",
  details: `Signs with NIMBUS_AUTH_SECRET, or the local stack's secret in the data directory.
Admin tokens are accepted only when their subject is in NIMBUS_ADMIN_SUBJECTS (default: admin).
Agent tokens let an agent ship logs; they are not admin tokens.`,
  options: { kind: { type: "string" }, sub: { type: "string" }, ttl: { type: "string" } },
  async run(ctx, v) {
    const kind = String(v.kind ?? "admin");
    if (kind !== "admin" && kind !== "agent") throw new AppError("bad_request", `--kind must be admin or agent, not ${JSON.stringify(kind)}`);
    const secretFile = join(ctx.dataDir, "auth-secret");
    const secret = ctx.env.NIMBUS_AUTH_SECRET ?? (existsSync(secretFile) ? readFileSync(secretFile, "utf8").trim() : undefined);
    if (!secret) throw new AppError("unavailable", `no signing secret: set NIMBUS_AUTH_SECRET or run \`nimbus up\` once to create ${secretFile}`);
    const sub = String(v.sub ?? (kind === "admin" ? "admin" : "agent"));
    const ttl = parseTtl(String(v.ttl ?? "30d"));
    const token = await mintToken(secret, kind as TokenKind, sub, ttl);
    ctx.out(ctx.json ? JSON.stringify({ kind, sub, expiresAt: new Date(Date.now() + ttl * 1000).toISOString(), token }) : token);
    return 0;
  },
};
