/**
 * How the mirror answers when an upstream fails it. Messages name the upstream and what went wrong,
 * never a credential, a token or the upstream's body.
 * - UNAVAILABLE 503: the upstream cannot be reached (refused connection, DNS, timeout, stall) and
 *   nothing cached can answer (the distribution registry's own code for this, `errcode.ErrorCodeUnavailable`);
 * - UNAVAILABLE 502: it answered, but wrongly (5xx, bytes that do not match their digest, an invalid
 *   manifest, refused the mirror's credentials).
 */
import { RegistryError } from "../errors.ts";

export type UpstreamFailure = "unreachable" | "bad_gateway";

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamFailure,
    readonly upstream: string,
    readonly why: string,
  ) {
    super(`upstream ${upstream} ${kind === "unreachable" ? "is unreachable" : "answered wrongly"}: ${why}`);
    this.name = "UpstreamError";
  }
}

export function toRegistry(e: UpstreamError): RegistryError {
  return new RegistryError("UNAVAILABLE", e.kind === "unreachable" ? 503 : 502, e.message, { upstream: e.upstream });
}
