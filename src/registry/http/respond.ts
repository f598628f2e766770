/** Response helpers: the API version header on every answer, the spec's error JSON, the 401 challenge. */
import { errorJson, RegistryError, toRegistryError } from "../errors.ts";
import type { Logger } from "../../core/log.ts";

export const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };
export const SERVICE = "nimbus-registry";

export function reply(status: number, headers: Record<string, string> = {}, body: BodyInit | null = null): Response {
  return new Response(body, { status, headers: { ...API_VERSION, ...headers } });
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return reply(status, { "content-type": "application/json", ...headers }, JSON.stringify(value));
}

/** The Bearer challenge a client answers by asking the realm for a token (scope: the repository, when known). */
export function challenge(origin: string, scope?: string): string {
  return `Bearer realm="${origin}/token",service="${SERVICE}"${scope ? `,scope="${scope}"` : ""}`;
}

export function errorResponse(e: unknown, challengeFor: () => string, log: Logger, method: string): Response {
  const re = toRegistryError(e, challengeFor) ?? new RegistryError("UNSUPPORTED", 500, "internal error");
  if (re.status === 500) log.error("registry request failed", { error: e });
  const headers = { ...re.headers };
  if (method === "HEAD") return reply(re.status, headers);
  return reply(re.status, { "content-type": "application/json", ...headers }, errorJson(re));
}
