/**
 * Audited actions of the control plane: run the action, then append its audit record (src/auth/audit.ts)
 * with the caller, the org acted on, the caller's address and the outcome (ok, or the error code it
 * ended with), and only then answer. The token routes call `audited` for mint and revoke.
 */
import { isAppError } from "../core/errors.ts";
import { appendAudit, type AuditAction } from "../auth/audit.ts";
import type { Principal } from "../auth/principal.ts";
import type { ControlContext } from "./context.ts";

/** The caller's address as the server saw it (Elysia's `server` in a handler's context). */
export function remoteOf(server: { requestIP(r: Request): { address: string } | null } | null | undefined, request: Request): string | null {
  return server?.requestIP(request)?.address ?? null;
}

export interface AuditedCall<T> {
  principal: Principal;
  action: AuditAction;
  /** The org acted on: known up front, or from the result (null: the platform; a failed call falls back to the caller's org). */
  org: string | null | ((result: T) => string | null);
  target?: string;
  remote: string | null;
  detail?: (result: T) => Record<string, unknown>;
}

export async function audited<T>(ctx: Pick<ControlContext, "topology" | "log">, call: AuditedCall<T>, act: () => Promise<T>): Promise<T> {
  const p = call.principal;
  const record = (org: string | null, outcome: string, detail?: Record<string, unknown>) =>
    appendAudit(ctx.topology.js, {
      at: Date.now(),
      actor: { sub: p.sub, role: p.role, org: p.org, tokenId: p.tokenId },
      action: call.action,
      org,
      ...(call.target ? { target: call.target } : {}),
      remote: call.remote,
      outcome,
      ...(detail ? { detail } : {}),
    });
  let result: T;
  try {
    result = await act();
  } catch (e) {
    const org = typeof call.org === "function" ? p.org : call.org;
    await record(org, isAppError(e) ? e.code : "error").catch((err) => ctx.log.error("audit record not written", { action: call.action, error: err }));
    throw e;
  }
  await record(typeof call.org === "function" ? call.org(result) : call.org, "ok", call.detail?.(result));
  return result;
}
