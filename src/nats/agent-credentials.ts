/**
 * An agent's NATS user, minted on request (decentralized auth, src/nats/decentralized.ts): an agent
 * token's holder sends the public half of a key it made; it gets back a user JWT for that key with
 * exactly its agent permissions (src/nats/permissions.ts), valid for `ttlMs`. It renews before then
 * with the same token, so a revoked or expired agent token cuts it off from NATS within one JWT's life.
 * Pure: the caller authenticates the token and passes who it names.
 */
import { AppError } from "../core/errors.ts";
import { agentPermissions, agentUser } from "./permissions.ts";
import { isUserPublicKey, userJwt } from "./decentralized.ts";

export interface AgentCaller {
  role: string;
  agentId?: string;
}

export function agentNatsCredentials(accountSeed: string, caller: AgentCaller, body: unknown, ttlMs: number, now = Date.now()): { jwt: string; expiresAt: string; user: string } {
  if (caller.role !== "agent" || !caller.agentId) throw new AppError("forbidden", "only an agent token gets an agent's NATS credentials");
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new AppError("validation_failed", "body: must be an object {publicKey}", { field: "body" });
  const extra = Object.keys(body).filter((k) => k !== "publicKey");
  if (extra.length) throw new AppError("validation_failed", `${extra[0]!.slice(0, 40)}: not a field (only publicKey)`, { field: extra[0]!.slice(0, 40) });
  const key = (body as { publicKey?: unknown }).publicKey;
  if (!isUserPublicKey(key)) throw new AppError("validation_failed", "publicKey: must be a NATS user public nkey (U…, 56 characters)", { field: "publicKey" });
  const permissions = agentPermissions(caller.agentId); // throws for an id that is not one subject token
  const { jwt, expiresAt } = userJwt(accountSeed, agentUser(caller.agentId), key, permissions, ttlMs, now);
  return { jwt, expiresAt: new Date(expiresAt).toISOString(), user: agentUser(caller.agentId) };
}
