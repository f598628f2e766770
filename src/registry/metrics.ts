/**
 * Prometheus metrics of the registry (prom-client), on a registry of its own, served at /metrics.
 *
 * Everything here is maintained as it happens, never walked per scrape: bytes in are counted as
 * upload bodies stream into the blob store, bytes out from the length of each blob or manifest
 * answered, uploads in progress from the sessions opened and closed, and the blob store's size
 * from the blobs stored and removed (seeded by one walk of the store at start; `recountStore`
 * walks it again, e.g. after a garbage collection).
 *
 * To add a metric (the pull-through mirror's hits and misses, GC's runs): create it with
 * `registers: [metrics.registry]` and a `nimbus_registry_` name, or add it to `registryMetrics` here.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { BlobStore } from "../blobs/store.ts";
import type { Route } from "./http/router.ts";
import type { SessionStore } from "./sessions.ts";

/** What a request was, as a bounded label: a distribution route's kind, or one of the registry's own. */
export type RouteClass = Route["kind"] | "token" | "admin" | "health" | "metrics" | "unknown";

export interface RegistryMetrics {
  registry: Registry;
  bytesIn: Counter;
  bytesOut: Counter<"kind">;
  requests: Counter<"route" | "method" | "status">;
  uploadsInProgress: Gauge;
  storeBytes: Gauge;
  storeBlobs: Gauge;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export function registryMetrics(defaults = true): RegistryMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: "nimbus_registry_" });
  const registers = [registry];
  return {
    registry,
    bytesIn: new Counter({ name: "nimbus_registry_bytes_in_total", help: "Bytes of blobs and manifests received (upload bodies as they stream in).", registers }),
    bytesOut: new Counter({ name: "nimbus_registry_bytes_out_total", help: "Bytes of blobs and manifests served, by kind.", labelNames: ["kind"], registers }),
    requests: new Counter({ name: "nimbus_registry_requests_total", help: "Requests answered, by route class, method and status.", labelNames: ["route", "method", "status"], registers }),
    uploadsInProgress: new Gauge({ name: "nimbus_registry_uploads_in_progress", help: "Blob upload sessions open (started, not finished or cancelled).", registers }),
    storeBytes: new Gauge({ name: "nimbus_registry_store_bytes", help: "Bytes in the blob store (each blob once, however many repositories link it).", registers }),
    storeBlobs: new Gauge({ name: "nimbus_registry_store_blobs", help: "Blobs in the blob store.", registers }),
  };
}

/** The route class of a registry path (the distribution routes' kinds from their parser). */
export function routeClassOf(pathname: string, parsed: (p: string) => Route | null): RouteClass {
  if (pathname === "/v2/token") return "token";
  if (pathname.startsWith("/v1/registry/")) return "admin";
  if (pathname === "/healthz") return "health";
  if (pathname === "/metrics") return "metrics";
  if (pathname === "/v2" || pathname.startsWith("/v2/")) {
    try {
      return parsed(pathname)?.kind ?? "unknown";
    } catch {
      return "unknown";
    }
  }
  return "unknown";
}

/** Count one answered request; a successful blob or manifest GET also counts its length as bytes out. */
export function observeResponse(m: RegistryMetrics, route: RouteClass, method: string, res: Response): void {
  const status = res.status;
  m.requests.inc({ route, method: METHODS.has(method) ? method : "OTHER", status: String(status) });
  if (method !== "GET" || (status !== 200 && status !== 206) || (route !== "blob" && route !== "manifest")) return;
  const n = Number(res.headers.get("content-length"));
  if (Number.isSafeInteger(n) && n > 0) m.bytesOut.inc({ kind: route }, n);
}

/** Walk the blob store once: its bytes and blob count. */
async function walkStore(root: string): Promise<{ bytes: number; blobs: number }> {
  let bytes = 0;
  let blobs = 0;
  const top = join(root, "sha256");
  for (const prefix of await readdir(top).catch(() => [] as string[])) {
    for (const name of await readdir(join(top, prefix)).catch(() => [] as string[])) {
      const s = await stat(join(top, prefix, name)).catch(() => null);
      if (s?.isFile()) (bytes += s.size), blobs++;
    }
  }
  return { bytes, blobs };
}

/**
 * Keep the store gauges and the bytes-in counter current from the blob store's observer, after one
 * walk. Returns `recountStore`, which walks again and resets the gauges (after GC, say).
 */
export async function watchBlobStore(m: RegistryMetrics, blobs: BlobStore): Promise<() => Promise<void>> {
  blobs.observer = {
    written: (n) => m.bytesIn.inc(n),
    stored: (size) => (m.storeBytes.inc(size), m.storeBlobs.inc()),
    removed: (size) => (m.storeBytes.dec(size), m.storeBlobs.dec()),
  };
  const recount = async () => {
    const w = await walkStore(blobs.root);
    m.storeBytes.set(w.bytes);
    m.storeBlobs.set(w.blobs);
  };
  await recount();
  return recount;
}

/**
 * Upload sessions as a gauge: seeded from the sessions on disk, then moved by the store's own
 * create and remove (the instance's methods are wrapped; a remove of an unknown id moves nothing).
 */
export async function watchSessions(m: RegistryMetrics, sessions: SessionStore): Promise<void> {
  const open = new Set((await readdir(sessions.root).catch(() => [] as string[])).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5)));
  m.uploadsInProgress.set(open.size);
  const create = sessions.create.bind(sessions);
  const remove = sessions.remove.bind(sessions);
  sessions.create = async (repo) => {
    const s = await create(repo);
    open.add(s.id);
    m.uploadsInProgress.set(open.size);
    return s;
  };
  sessions.remove = async (id) => {
    await remove(id);
    if (open.delete(id)) m.uploadsInProgress.set(open.size);
  };
}
