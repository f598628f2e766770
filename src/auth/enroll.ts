/**
 * Enrollment: a one-time enrollment token (role `enroll`, minted by an operator) is spent on the
 * agent id a new host proposes, and that agent's own token (role `agent`, bound to the id) is minted
 * and recorded. The token is spent first (a CAS in the ledger, ./ledger-store.ts `consume`), so of
 * two concurrent uses exactly one mints anything.
 */
import { AppError } from "../core/errors.ts";
import { mintRecorded, type MintDeps, type Minted } from "./mint.ts";
import type { VerifiedToken } from "./tokens.ts";

/** An enrolled agent's token lives a year (revoked by `nimbus agents remove`, or `token revoke`). */
export const ENROLLED_AGENT_TOKEN_TTL_SECONDS = 365 * 86_400;

/** The request body: `{agentId}`, checked by `checkId` (the agent-id rule). */
export function parseEnrollRequest(raw: unknown, checkId: (id: string) => string): { agentId: string } {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new AppError("validation_failed", "expected a JSON object {agentId}");
  const b = raw as Record<string, unknown>;
  const extra = Object.keys(b).filter((k) => k !== "agentId");
  if (extra.length) throw new AppError("validation_failed", `unknown field ${JSON.stringify(extra[0]!.slice(0, 40))}: the body is {agentId}`, { field: extra[0]!.slice(0, 40) });
  if (typeof b.agentId !== "string") throw new AppError("validation_failed", "agentId: must be a string", { field: "agentId" });
  return { agentId: checkId(b.agentId) };
}

/** Spend `enrollToken` on `agentId` and mint that agent's token (the enrollment token is its minter). */
export async function enrollAgent(deps: MintDeps, enrollToken: VerifiedToken, agentId: string, now = Date.now()): Promise<Minted> {
  if (enrollToken.role !== "enroll") throw new AppError("forbidden", `a ${enrollToken.role} token is not an enrollment token`);
  await deps.ledger.consume(enrollToken.tokenId, agentId, now);
  return mintRecorded(deps, { sub: agentId, role: "agent", agentId, ttlSeconds: ENROLLED_AGENT_TOKEN_TTL_SECONDS }, { sub: enrollToken.sub, tokenId: enrollToken.tokenId }, now);
}
