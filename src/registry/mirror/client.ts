/**
 * Requests to an upstream registry, with its own authentication: a request answered 401 with a
 * Bearer challenge fetches a token from the challenge's realm (anonymously, or with the upstream's
 * configured credentials as Basic auth) and is repeated once with it; a Basic challenge is answered
 * with the credentials. Tokens are cached per upstream and scope until shortly before they expire.
 * Redirects (Docker Hub sends blobs to a CDN) are followed by hand, without the Authorization header
 * when they leave the upstream's origin. `fetch` is a parameter. Every network failure or timeout is
 * an UpstreamError "unreachable"; nothing here logs or returns a credential.
 */
import { parseChallenge, type Challenge } from "./challenge.ts";
import { UpstreamError } from "./errors.ts";
import type { Upstream } from "./upstreams.ts";

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

const MAX_TOKEN_RESPONSE = 64 * 1024;
const MAX_REDIRECTS = 3;
/** A cached token is dropped this long before its stated expiry. */
const TOKEN_MARGIN_MS = 10_000;

export interface UpstreamRequest {
  method: "GET" | "HEAD";
  /** Path under the upstream's origin, e.g. `/v2/library/alpine/manifests/latest`. */
  path: string;
  headers?: Record<string, string>;
  /** The token scope to ask for when challenged, `repository:NAME:pull`. */
  scope: string;
}

export interface UpstreamReply {
  response: Response;
  /** Aborts the request, its body included (a stalled body is cut with this). */
  abort(): void;
}

export class UpstreamClient {
  /** The Authorization to send first, per upstream and scope: a Bearer token until it expires, or Basic. */
  private readonly auth = new Map<string, { header: string; until: number }>();

  constructor(
    private readonly fetchFn: Fetch,
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The upstream's answer (any status but an unanswerable 401); unreachable → UpstreamError. */
  async request(up: Upstream, r: UpstreamRequest): Promise<UpstreamReply> {
    const key = `${up.name} ${r.scope}`;
    const cached = this.auth.get(key);
    const auth = cached && cached.until > this.now() ? cached.header : undefined;
    let reply = await this.send(up, r, auth);
    if (reply.response.status !== 401) return reply;
    const challenge = parseChallenge(reply.response.headers.get("www-authenticate"));
    if (!challenge || (challenge.scheme === "basic" && !up.credentials)) return reply; // nothing to answer it with
    await reply.response.body?.cancel().catch(() => {});
    const fresh = await this.authorization(up, challenge, r.scope);
    this.auth.set(key, fresh);
    return this.send(up, r, fresh.header);
  }

  /** What to send after a challenge: a fresh token, or the Basic credentials. */
  private async authorization(up: Upstream, c: Challenge, scope: string): Promise<{ header: string; until: number }> {
    if (c.scheme === "basic") return { header: basic(up.credentials!.username, up.credentials!.password), until: Number.POSITIVE_INFINITY };
    const token = await this.fetchToken(up, c, scope);
    return { header: `Bearer ${token.token}`, until: token.until };
  }

  private async fetchToken(up: Upstream, c: Extract<Challenge, { scheme: "bearer" }>, scope: string): Promise<{ token: string; until: number }> {
    const url = new URL(c.realm);
    if (c.service) url.searchParams.set("service", c.service);
    url.searchParams.set("scope", c.scope ?? scope);
    // Credentials go to the realm only over https or to the upstream's own origin.
    const sendCreds = up.credentials && (url.protocol === "https:" || url.origin === new URL(up.url).origin);
    const headers: Record<string, string> = sendCreds ? { authorization: basic(up.credentials!.username, up.credentials!.password) } : {};
    const { response } = await this.fetchOnce(up, url.toString(), { method: "GET", headers });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel().catch(() => {});
      throw new UpstreamError("bad_gateway", up.name, `its token service refused the mirror's ${up.credentials ? "credentials" : "anonymous token request"} (${response.status})`);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new UpstreamError("bad_gateway", up.name, `its token service answered ${response.status}`);
    }
    const text = await readText(response, MAX_TOKEN_RESPONSE, up.name, this.timeoutMs);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(text);
    } catch {
      throw new UpstreamError("bad_gateway", up.name, "its token service answered no JSON");
    }
    const token = typeof doc.token === "string" && doc.token ? doc.token : typeof doc.access_token === "string" ? doc.access_token : "";
    if (!token || token.length > 16384) throw new UpstreamError("bad_gateway", up.name, "its token service answered no token");
    const expiresIn = typeof doc.expires_in === "number" && doc.expires_in > 0 ? Math.min(doc.expires_in, 3600) : 60;
    return { token, until: this.now() + expiresIn * 1000 - TOKEN_MARGIN_MS };
  }

  /** One request to the upstream, following redirects by hand. */
  private async send(up: Upstream, r: UpstreamRequest, auth: string | undefined): Promise<UpstreamReply> {
    let url = `${up.url}${r.path}`;
    const origin = new URL(up.url).origin;
    for (let hop = 0; ; hop++) {
      const sameOrigin = new URL(url).origin === origin;
      const headers = { ...r.headers, ...(auth && sameOrigin ? { authorization: auth } : {}) };
      const reply = await this.fetchOnce(up, url, { method: r.method, headers });
      const status = reply.response.status;
      const location = reply.response.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(status) || !location) return reply;
      await reply.response.body?.cancel().catch(() => {});
      if (hop >= MAX_REDIRECTS) throw new UpstreamError("bad_gateway", up.name, `more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      if (next.protocol !== "http:" && next.protocol !== "https:") throw new UpstreamError("bad_gateway", up.name, "a redirect to a non-http URL");
      url = next.toString();
    }
  }

  /** fetch with a deadline for the answer's head; the body's stalls are the reader's to time. */
  private async fetchOnce(up: Upstream, url: string, init: { method: string; headers: Record<string, string> }): Promise<UpstreamReply> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      const response = await this.fetchFn(url, { ...init, redirect: "manual", signal: controller.signal });
      return { response, abort: () => controller.abort() };
    } catch {
      throw new UpstreamError("unreachable", up.name, controller.signal.aborted ? `no answer within ${Math.round(this.timeoutMs / 1000)} s` : "connection failed");
    } finally {
      clearTimeout(timer);
    }
  }
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** A body of at most `max` bytes; more is a bad gateway. */
export async function readBytes(response: Response, max: number, upstream: string, idleMs?: number, abort?: () => void): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > max) {
    await response.body?.cancel().catch(() => {});
    throw new UpstreamError("bad_gateway", upstream, `a body of ${declared} bytes, over the limit of ${max}`);
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await readWithin(reader, idleMs, upstream, abort);
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      reader.cancel().catch(() => {});
      throw new UpstreamError("bad_gateway", upstream, `a body over the limit of ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

async function readText(response: Response, max: number, upstream: string, idleMs: number): Promise<string> {
  return new TextDecoder().decode(await readBytes(response, max, upstream, idleMs));
}

/** One read of a body, or "unreachable" when no bytes come for `idleMs` (the request is aborted). */
export async function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  idleMs: number | undefined,
  upstream: string,
  abort?: () => void,
): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stalled = false;
  const stall = new UpstreamError("unreachable", upstream, `its body stalled for ${Math.round((idleMs ?? 0) / 1000)} s`);
  const timeout = idleMs
    ? new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          stalled = true;
          reject(stall);
          abort?.();
          reader.cancel().catch(() => {});
        }, idleMs);
      })
    : null;
  try {
    return await (timeout ? Promise.race([reader.read(), timeout]) : reader.read());
  } catch (e) {
    if (stalled) throw stall;
    if (e instanceof UpstreamError) throw e;
    throw new UpstreamError("unreachable", upstream, "the connection broke mid-body");
  } finally {
    clearTimeout(timer);
  }
}
