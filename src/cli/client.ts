/** HTTP client for the control plane and log service, with errors a person can act on. */
import type { JobEvent } from "../jobs/events.ts";
import { readError, unreachable } from "./errors.ts";
import { followSse, type FollowOptions } from "./sse.ts";
import { withRetries } from "./retry.ts";

async function request(service: string, url: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (init.signal?.aborted) throw e;
    throw unreachable(service, url, e);
  }
}

/** `path` on the control plane: each of its URLs in turn while a replica is restarting (retry.ts). */
async function controlRequest(bases: string[], path: string, init: RequestInit = {}): Promise<Response> {
  let last = bases[0]!;
  try {
    return await withRetries(bases, init, (base) => ((last = base), fetch(base + path, init)));
  } catch (e) {
    if (init.signal?.aborted) throw e;
    throw unreachable("the control plane", last + path, e);
  }
}

async function json<T>(res: Response): Promise<T> {
  if (!res.ok) throw await readError(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export interface LogLineOut {
  attempt: number;
  n: number;
  ts: number;
  stream: "out" | "err" | "sys";
  text: string;
}

export class ApiClient {
  /** The control plane's URLs (NIMBUS_URL, comma-separated for several replicas); controlUrl is the first. */
  readonly controlUrls: string[];
  readonly controlUrl: string;

  constructor(
    controlUrl: string,
    readonly logsUrl: string,
    private readonly token: string,
    /** The Actions cache service, when known (local stack, or NIMBUS_CACHE_URL). */
    readonly cacheUrl?: string,
    /** The registry, when known (local stack, or NIMBUS_REGISTRY_URL). */
    readonly registryUrl?: string,
  ) {
    this.controlUrls = controlUrl.split(",").map((u) => u.trim().replace(/\/+$/, "")).filter(Boolean);
    this.controlUrl = this.controlUrls[0]!;
  }

  /** A request to `base` + `path`: with retries and failover when `base` is the control plane. */
  private send(base: string, path: string, init: RequestInit): Promise<Response> {
    return base === this.controlUrl ? controlRequest(this.controlUrls, path, init) : request(this.service(base), base + path, init);
  }

  static async info(controlUrl: string): Promise<{ version: string; logsUrl: string; registryUrl?: string }> {
    return json(await controlRequest(controlUrl.split(",").map((u) => u.trim().replace(/\/+$/, "")).filter(Boolean), "/api/info"));
  }

  /** Which service a base URL is, for messages. */
  private service(base: string): string {
    if (base === this.logsUrl) return "the log service";
    if (base === this.cacheUrl) return "the cache service";
    if (base === this.registryUrl) return "the registry";
    return "the control plane";
  }

  private headers(extra: Record<string, string> = {}) {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  get<T>(path: string, base = this.controlUrl): Promise<T> {
    return this.send(base, path, { headers: this.headers() }).then((r) => json<T>(r));
  }

  post<T>(path: string, body: unknown = {}, base = this.controlUrl): Promise<T> {
    return this.send(base, path, { method: "POST", headers: this.headers({ "content-type": "application/json" }), body: JSON.stringify(body) }).then((r) => json<T>(r));
  }

  put<T>(path: string, body: unknown, base = this.controlUrl): Promise<T> {
    return this.send(base, path, { method: "PUT", headers: this.headers({ "content-type": "application/json" }), body: JSON.stringify(body) }).then((r) => json<T>(r));
  }

  /** A JSON-lines answer, one value per line as it streams in. */
  async *lines<T>(path: string, base = this.controlUrl): AsyncGenerator<T> {
    const res = await this.send(base, path, { headers: this.headers() });
    if (!res.ok) throw await readError(res);
    const decoder = new TextDecoder();
    let rest = "";
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) if (line.trim()) yield JSON.parse(line) as T;
    }
    if (rest.trim()) yield JSON.parse(rest) as T;
  }

  del<T>(path: string, base = this.controlUrl): Promise<T> {
    return this.send(base, path, { method: "DELETE", headers: this.headers() }).then((r) => json<T>(r));
  }

  /** A stream from `base`, resumed after a cut from the last event id (see followSse). */
  private follow<T>(base: string, path: string, opts: Partial<FollowOptions>): AsyncGenerator<T> {
    const service = this.service(base);
    // Plain fetch: a network error here is a cut that followSse retries, not a final answer.
    const open = (lastId: string | undefined, signal: AbortSignal) =>
      fetch(base + path, { headers: this.headers(lastId === undefined ? {} : { "last-event-id": lastId }), signal });
    return followSse<T>(open, { service: `${service} at ${new URL(base).origin}`, ...opts });
  }

  /** A job's lifecycle events, live, until the stream ends or `signal` aborts. */
  events(jobId: string, opts: Partial<FollowOptions> = {}): AsyncGenerator<JobEvent> {
    return this.follow(this.controlUrl, `/api/jobs/${encodeURIComponent(jobId)}/events?follow=1`, opts);
  }

  /** A job's log lines from `offset`, live, until its logs end or `signal` aborts; a cut resumes with no line twice or lost. */
  followLogs(jobId: string, offset: number, opts: Partial<FollowOptions> = {}): AsyncGenerator<LogLineOut> {
    return this.follow(this.logsUrl, `/v1/jobs/${encodeURIComponent(jobId)}/logs/follow?offset=${offset}`, opts);
  }

  /** Lines matching a query from every job of the caller's org (an operator's: `org`, or all), live. */
  followSearch<T>(q: string, org: string | undefined, opts: Partial<FollowOptions> = {}): AsyncGenerator<T> {
    const qs = new URLSearchParams({ q, ...(org ? { org } : {}) });
    return this.follow(this.logsUrl, `/v1/logs/search/follow?${qs}`, opts);
  }

  health(url: string): Promise<boolean> {
    return fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
  }
}
