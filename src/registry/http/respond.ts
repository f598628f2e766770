/** Response helpers: the API version header on every answer, the spec's error JSON (with a 401's challenge). */
import { errorJson, RegistryError, toRegistryError } from "../errors.ts";
import type { Logger } from "../../core/log.ts";

export const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };

export function reply(status: number, headers: Record<string, string> = {}, body: BodyInit | null = null): Response {
  return new Response(body, { status, headers: { ...API_VERSION, ...headers } });
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return reply(status, { "content-type": "application/json", ...headers }, JSON.stringify(value));
}

export function errorResponse(e: unknown, challengeFor: () => string, log: Logger, method: string): Response {
  const re = toRegistryError(e, challengeFor) ?? new RegistryError("UNSUPPORTED", 500, "internal error");
  if (re.status === 500) log.error("registry request failed", { error: e });
  const headers = { ...re.headers };
  if (method === "HEAD") return reply(re.status, headers);
  return reply(re.status, { "content-type": "application/json", ...headers }, errorJson(re));
}
