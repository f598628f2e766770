/**
 * The results-host gateway: how an unmodified workflow inside a Nimbus VM reaches the Nimbus cache.
 * The guest resolves GitHub's results host to this gateway (on the host side of the VM's network),
 * which terminates TLS with a certificate from the Nimbus CA the guest image trusts. Cache calls
 * (Twirp CacheService, v1 `_apis/artifactcache`, signed blob URLs) go to the Nimbus cache with the
 * runtime token the agent bound to the VM's address; every other call (artifacts, ...) is
 * forwarded to GitHub unchanged, its own token included. A VM with no binding is forwarded to
 * GitHub entirely, so a job never fails because the Nimbus cache is not set up for it.
 */
import type { Logger } from "../../src/core/log.ts";
import { RESULTS_HOSTS } from "./ca.ts";

export interface GatewayOptions {
  hostname: string;
  port: number;
  tls: { cert: string; key: string };
  /** The Nimbus cache service (it must run with NIMBUS_CACHE_TRUST_FORWARDED=true). */
  cacheUrl: string;
  /** GitHub's real results service; absent: https:// and the results host the guest named (one of RESULTS_HOSTS, never another). */
  upstreamUrl?: string;
  log: Logger;
}

export interface ResultsGateway {
  url: string;
  port: number;
  /** Route the VM at `ip` to the Nimbus cache with `token` (a cache runtime token for its job). */
  bind(ip: string, token: string): void;
  unbind(ip: string): void;
  stop(): Promise<void>;
}

const CACHE_CALL = /^\/(twirp\/github\.actions\.results\.api\.v1\.CacheService\/|_apis\/artifactcache\/)/;
const BLOB = /^\/blob\//;
const HOP = ["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer", "host"];

function normaliseIp(ip: string): string {
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}

async function forward(request: Request, target: string, headers: Headers): Promise<Response> {
  const url = new URL(request.url);
  for (const h of HOP) headers.delete(h);
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const res = await fetch(target + url.pathname + url.search, {
    method: request.method, headers, body: hasBody ? request.body : undefined, redirect: "manual", decompress: false,
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
  const out = new Headers(res.headers);
  for (const h of HOP) out.delete(h);
  return new Response(res.body, { status: res.status, headers: out });
}

export function startResultsGateway(o: GatewayOptions): ResultsGateway {
  const bindings = new Map<string, string>();
  const cache = o.cacheUrl.replace(/\/+$/, "");
  const fixed = o.upstreamUrl?.replace(/\/+$/, "");
  const upstreamFor = (host: string | null): string | undefined => {
    if (fixed) return fixed;
    const name = (host ?? "").replace(/:\d+$/, "").toLowerCase();
    return RESULTS_HOSTS.includes(name) ? `https://${name}` : undefined;
  };
  const server = Bun.serve({
    hostname: o.hostname,
    port: o.port,
    tls: o.tls,
    maxRequestBodySize: 16 * 1024 ** 3,
    async fetch(request, srv) {
      const path = new URL(request.url).pathname;
      const ip = normaliseIp(srv.requestIP(request)?.address ?? "");
      const token = bindings.get(ip);
      const headers = new Headers(request.headers);
      try {
        if (token && (CACHE_CALL.test(path) || BLOB.test(path))) {
          if (CACHE_CALL.test(path)) headers.set("authorization", `Bearer ${token}`);
          headers.set("x-forwarded-host", request.headers.get("host") ?? "");
          headers.set("x-forwarded-proto", "https");
          return await forward(request, cache, headers);
        }
        const upstream = upstreamFor(request.headers.get("host"));
        if (!upstream) return Response.json({ code: "bad_request", msg: "not a results host" }, { status: 421 });
        return await forward(request, upstream, headers);
      } catch (e) {
        // Never the error's text: it may carry the URL, and a signed URL is a credential (so is any token).
        o.log.warn("results gateway could not forward", { path, error: (e as { code?: string; name?: string }).code ?? (e as Error).name });
        return Response.json({ code: "unavailable", msg: "results gateway could not reach its upstream" }, { status: 502 });
      }
    },
  });
  return {
    url: `https://${o.hostname}:${server.port}`,
    port: server.port!,
    bind: (ip, token) => void bindings.set(normaliseIp(ip), token),
    unbind: (ip) => void bindings.delete(normaliseIp(ip)),
    stop: async () => server.stop(true),
  };
}
