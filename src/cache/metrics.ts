/** Prometheus metrics of the cache service (prom-client), on a registry of its own. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { BreakerState } from "../blobs/backend/breaker.ts";

export interface CacheMetrics {
  registry: Registry;
  hits: Counter<"protocol">;
  misses: Counter<"protocol">;
  bytesIn: Counter;
  bytesOut: Counter;
  evictions: Counter<"reason">;
  backendErrors: Counter<"op">;
  skippedSaves: Counter<"protocol">;
  setBreaker(state: BreakerState): void;
}

const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export function cacheMetrics(defaults = true): CacheMetrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry, prefix: "nimbus_cache_" });
  const registers = [registry];
  const breaker = new Gauge({ name: "nimbus_cache_breaker_state", help: "Storage circuit breaker: 0 closed, 1 half-open, 2 open.", registers });
  breaker.set(0);
  return {
    registry,
    hits: new Counter({ name: "nimbus_cache_hits_total", help: "Lookups that found an entry.", labelNames: ["protocol"], registers }),
    misses: new Counter({ name: "nimbus_cache_misses_total", help: "Lookups that found nothing (or storage was down).", labelNames: ["protocol"], registers }),
    bytesIn: new Counter({ name: "nimbus_cache_bytes_in_total", help: "Archive bytes stored.", registers }),
    bytesOut: new Counter({ name: "nimbus_cache_bytes_out_total", help: "Archive bytes served.", registers }),
    evictions: new Counter({ name: "nimbus_cache_evictions_total", help: "Entries removed, by reason.", labelNames: ["reason"], registers }),
    backendErrors: new Counter({ name: "nimbus_cache_backend_errors_total", help: "Failed storage calls, by operation.", labelNames: ["op"], registers }),
    skippedSaves: new Counter({ name: "nimbus_cache_saves_skipped_total", help: "Saves refused because storage was down.", labelNames: ["protocol"], registers }),
    setBreaker: (state) => breaker.set(BREAKER_VALUE[state]),
  };
}
