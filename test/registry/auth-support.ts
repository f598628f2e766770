/**
 * A tiny registry for the auth tests: the token routes of src/registry/auth mounted beside a minimal
 * /v2/ handler (one fixed image, served from memory) that asks `registryAccess` before every answer
 * and maps its errors the way the registry does (spec JSON, the challenge from the error's details).
 * A real nats-server holds the token ledger; the full registry is src/registry.
 */
import { Elysia } from "elysia";
import { createHash } from "node:crypto";
import { isAppError } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/log.ts";
import { LedgerView } from "../../src/auth/ledger-store.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";
import { registryAccess, registryAuthDeps, registryAuthRoutes, type RegistryAction, type RegistryAuthDeps } from "../../src/registry/auth/index.ts";
import { freePort } from "../support/net.ts";

export const SECRET = "registry-auth-test-secret-0123456789abcdef";

const sha = (b: string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
export const CONFIG = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, config: {} });
export const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(CONFIG), size: CONFIG.length },
  layers: [],
});
export const MANIFEST_DIGEST = sha(MANIFEST);

const API = { "docker-distribution-api-version": "registry/2.0" };
const OCI: Record<string, string> = { unauthorized: "UNAUTHORIZED", forbidden: "DENIED", not_found: "NAME_UNKNOWN", bad_request: "NAME_INVALID" };

function fail(e: unknown): Response {
  if (!isAppError(e)) throw e;
  const headers: Record<string, string> = { ...API, "content-type": "application/json" };
  if (typeof e.details?.challenge === "string") headers["www-authenticate"] = e.details.challenge;
  const code = (e.details?.ociCode as string | undefined) ?? OCI[e.code] ?? "UNSUPPORTED";
  return new Response(JSON.stringify({ errors: [{ code, message: e.message }] }), { status: e.status, headers });
}

const ROUTE = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;

async function v2(deps: RegistryAuthDeps, request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  try {
    if (path === "/v2/" || path === "/v2") {
      await registryAccess(deps, request, null, []);
      return new Response("{}", { headers: { ...API, "content-type": "application/json" } });
    }
    const tags = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (tags) {
      await registryAccess(deps, request, tags[1]!, ["pull"]);
      return new Response(JSON.stringify({ name: tags[1], tags: ["latest"] }), { headers: { ...API, "content-type": "application/json" } });
    }
    const m = ROUTE.exec(path);
    if (!m) return new Response(JSON.stringify({ errors: [{ code: "UNSUPPORTED", message: "no route" }] }), { status: 404, headers: API });
    const [, name, kind, ref] = m;
    const action: RegistryAction = request.method === "DELETE" ? "delete" : request.method === "GET" || request.method === "HEAD" ? "pull" : "push";
    await registryAccess(deps, request, name!, action === "push" ? ["pull", "push"] : [action]);
    if (action !== "pull") return new Response(null, { status: 202, headers: API });
    if (kind === "manifests" && (ref === "latest" || ref === MANIFEST_DIGEST))
      return new Response(request.method === "HEAD" ? null : MANIFEST, { headers: { ...API, "content-type": "application/vnd.oci.image.manifest.v1+json", "docker-content-digest": MANIFEST_DIGEST } });
    if (kind === "blobs" && ref === sha(CONFIG)) return new Response(request.method === "HEAD" ? null : CONFIG, { headers: { ...API, "docker-content-digest": ref } });
    return new Response(JSON.stringify({ errors: [{ code: kind === "blobs" ? "BLOB_UNKNOWN" : "MANIFEST_UNKNOWN", message: "unknown" }] }), { status: 404, headers: API });
  } catch (e) {
    return fail(e);
  }
}

export interface TestRegistry {
  url: string;
  host: string;
  deps: RegistryAuthDeps;
  stop(): Promise<void>;
}

export async function startTestRegistry(natsUrl: string, opts: { publicOrgs?: string[]; tokenTtlSeconds?: number } = {}): Promise<TestRegistry> {
  const nc = await connectNats({ url: natsUrl, token: "", name: "test-registry-auth" });
  const ledger = await LedgerView.start(await ensureTokenLedger(nc));
  const deps = registryAuthDeps({ secret: SECRET, ledger }, { externalUrl: "", publicOrgs: opts.publicOrgs ?? [], tokenTtlSeconds: opts.tokenTtlSeconds ?? 300 });
  const port = await freePort();
  const app = new Elysia()
    .use(registryAuthRoutes(deps, createLogger("test-registry")))
    .all("/v2", ({ request }) => v2(deps, request), { parse: "none" })
    .all("/v2/*", ({ request }) => v2(deps, request), { parse: "none" })
    .listen({ hostname: "127.0.0.1", port });
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    deps,
    stop: async () => {
      await app.stop();
      ledger.stop();
      await nc.close();
    },
  };
}
