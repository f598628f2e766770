/**
 * The CLI's own retries, so a control-plane replica restarting (a rolling upgrade) fails no command:
 * a request that could not connect, or that a replica answered 502/503/504, is sent again, to the next
 * of the control plane's URLs (NIMBUS_URL may list several, comma-separated) and with backoff, for up to
 * NIMBUS_CLI_RETRY_SECONDS (default 15; 0: no retries), saying so on stderr once. Only requests that are
 * safe to send twice: reads, deletes, writes carrying an idempotency key, and any request whose
 * connection was refused (it reached no server).
 */
export function retryForMs(env: Record<string, string | undefined> = process.env): number {
  const s = Number(env.NIMBUS_CLI_RETRY_SECONDS ?? 15);
  return Number.isFinite(s) && s >= 0 ? Math.min(s, 600) * 1000 : 15_000;
}
const TRANSIENT = new Set([502, 503, 504]);

export interface Attempt {
  /** The base URL to use for this try. */
  base: string;
  try: number;
}

export function safeToRepeat(init: RequestInit): boolean {
  const method = (init.method ?? "GET").toUpperCase();
  if (method === "GET" || method === "HEAD" || method === "DELETE") return true;
  const h = new Headers(init.headers);
  if (h.has("idempotency-key")) return true;
  // A JSON body naming its idempotency key (the job spec's field) is as safe.
  return typeof init.body === "string" && /"idempotencyKey"\s*:/.test(init.body);
}

/**
 * Send with `send(base)`; on a connection error or a transient status, again on the next base after a
 * backoff (100 ms doubling to 2 s), until `retryForMs` has passed. The last error or answer is what
 * the caller sees.
 */
export async function withRetries(
  bases: string[],
  init: RequestInit,
  send: (base: string) => Promise<Response>,
  forMs = retryForMs(),
  sleep = (ms: number) => Bun.sleep(ms),
  say: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<Response> {
  const repeat = safeToRepeat(init);
  const until = Date.now() + forMs;
  for (let i = 0, delay = 100; ; i++, delay = Math.min(delay * 2, 2_000)) {
    const base = bases[i % bases.length]!;
    let res: Response | undefined;
    let error: unknown;
    try {
      res = await send(base);
    } catch (e) {
      if (init.signal?.aborted) throw e;
      error = e;
    }
    const transient = error !== undefined || TRANSIENT.has(res!.status);
    const refused = (error as { code?: string } | undefined)?.code === "ECONNREFUSED";
    // Another replica is tried at once; a full round waits.
    if (!transient || !(repeat || refused) || Date.now() + delay > until) {
      if (error !== undefined) throw error;
      return res!;
    }
    await res?.body?.cancel();
    if (i === 0) say(`nimbus: the control plane at ${new URL(base).origin} is not answering (${error !== undefined ? "no connection" : `HTTP ${res!.status}`}); retrying for up to ${Math.round(forMs / 1000)} s${bases.length > 1 ? `, on ${bases.length} URLs` : ""}`);
    if ((i + 1) % bases.length === 0) await sleep(delay);
  }
}
