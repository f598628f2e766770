/** HTTP failures as the CLI reports them: the server's {code,message}, or a network cause in our words. */
import { AppError, type ErrorCode } from "../core/errors.ts";

const CAUSES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

/** Why a request failed below HTTP, from the error's code (never the runtime's message text). */
export function networkCause(e: unknown): string {
  const err = e as { code?: string; name?: string };
  if (err?.name === "TimeoutError") return "timed out";
  return (err?.code && CAUSES[err.code]) ?? (err?.code ? `network error ${err.code}` : "network error");
}

export function unreachable(service: string, url: string, e: unknown): AppError {
  return new AppError("unavailable", `cannot reach ${service} at ${new URL(url).origin} (${networkCause(e)}). Is the stack up? (nimbus up)`);
}

/** A non-2xx answer as an AppError carrying the server's code and message. */
export async function readError(res: Response): Promise<AppError> {
  const text = await res.text().catch(() => "");
  let body: { code?: string; message?: string } = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { message: text };
  }
  return new AppError((body.code as ErrorCode) ?? "internal", body.message ?? `HTTP ${res.status}`, { status: res.status });
}
