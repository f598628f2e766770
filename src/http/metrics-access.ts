/**
 * Who may scrape `/metrics` (issue #11 defect 4). The rule is about the address the service is
 * bound to, never the caller's address (a proxy on the same host makes every caller look local):
 *
 * - bound to a loopback address (`127.0.0.0/8`, `::1`, `localhost`): open — only processes on the
 *   host reach it, as with every other loopback-only endpoint;
 * - bound to anything else (a LAN address, `0.0.0.0`, `::`): a bearer token whose role is granted
 *   `metrics:read` (operators), checked like every other token (signature, expiry, the ledger);
 *   no token or a bad one is 401, another role 403. Prometheus sends it with `authorization:
 *   { type: Bearer, credentials_file: ... }` (or the older `bearer_token_file`).
 */
import { authorize } from "../auth/principal.ts";
import { authenticate, type AuthOptions } from "./common.ts";

const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Whether a listen address is loopback only. Wildcards (`0.0.0.0`, `::`, empty) are not. */
export function isLoopbackBind(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || LOOPBACK_V4.test(h) || LOOPBACK_V4.test(h.replace(/^::ffff:/, ""));
}

/** Throws 401/403 unless the caller may read this service's metrics. */
export async function checkMetricsAccess(request: Request, bindHost: string, auth: AuthOptions): Promise<void> {
  if (isLoopbackBind(bindHost)) return;
  authorize(await authenticate(request, auth), "metrics:read");
}
