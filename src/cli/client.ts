/** HTTP client for the control plane and log service, with errors a person can act on. */
import { AppError, type ErrorCode } from "../core/errors.ts";
import type { JobEvent } from "../jobs/events.ts";

async function request(url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const base = new URL(url).origin;
    throw new AppError("unavailable", `cannot reach ${base}: ${(e as Error).message.replace(/\s*\(.*\)$/, "")}. Is the stack up? (\`nimbus status\`)`);
  }
}

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { message: text };
  }
  if (!res.ok) {
    const b = body as { code?: string; message?: string };
    throw new AppError((b.code as ErrorCode) ?? "internal", b.message ?? `HTTP ${res.status}`, { status: res.status });
  }
  return body as T;
}

/** Parse a server-sent-events response into its `data:` payloads; stops at `event: end`. */
export async function* readSse<T>(res: Response): AsyncGenerator<T> {
  if (!res.ok || !res.body) await json(res);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (/^event: end$/m.test(frame)) return;
      const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) yield JSON.parse(data) as T;
    }
  }
}

export interface LogLineOut {
  attempt: number;
  n: number;
  ts: number;
  stream: "out" | "err" | "sys";
  text: string;
}

export class ApiClient {
  constructor(
    readonly controlUrl: string,
    readonly logsUrl: string,
    private readonly token: string,
    /** The Actions cache service, when known (local stack, or NIMBUS_CACHE_URL). */
    readonly cacheUrl?: string,
  ) {}

  static async info(controlUrl: string): Promise<{ version: string; logsUrl: string }> {
    return json(await request(`${controlUrl}/api/info`));
  }

  private headers(extra: Record<string, string> = {}) {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  get<T>(path: string, base = this.controlUrl): Promise<T> {
    return request(base + path, { headers: this.headers() }).then((r) => json<T>(r));
  }

  post<T>(path: string, body: unknown = {}, base = this.controlUrl): Promise<T> {
    return request(base + path, { method: "POST", headers: this.headers({ "content-type": "application/json" }), body: JSON.stringify(body) }).then((r) => json<T>(r));
  }

  del<T>(path: string, base = this.controlUrl): Promise<T> {
    return request(base + path, { method: "DELETE", headers: this.headers() }).then((r) => json<T>(r));
  }

  async *events(jobId: string, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    const res = await request(`${this.controlUrl}/api/jobs/${encodeURIComponent(jobId)}/events?follow=1`, { headers: this.headers(), signal });
    yield* readSse<JobEvent>(res);
  }

  async *followLogs(jobId: string, offset: number, signal?: AbortSignal): AsyncGenerator<LogLineOut> {
    const res = await request(`${this.logsUrl}/v1/jobs/${encodeURIComponent(jobId)}/logs/follow?offset=${offset}`, { headers: this.headers(), signal });
    yield* readSse<LogLineOut>(res);
  }

  health(url: string): Promise<boolean> {
    return fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
  }
}
