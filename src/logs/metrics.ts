/** The log service's Prometheus metrics: what agents shipped, what was refused, who follows live. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

export interface LogMetrics {
  registry: Registry;
  /** Lines stored (a resent line, already stored, is not counted again). */
  linesStored: Counter;
  /** Batches by outcome: `stored`, or the refusal's error code (a bounded set). */
  batches: Counter<"outcome">;
  followers: Gauge;
}

export function logMetrics(): LogMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: "nimbus_logs_" });
  return {
    registry,
    linesStored: new Counter({ name: "nimbus_logs_lines_stored_total", help: "Log lines stored (a resent line that was already stored is not counted).", registers }),
    batches: new Counter({ name: "nimbus_logs_batches_total", help: "Log batches received, by outcome (stored, or the error code they were refused with).", labelNames: ["outcome"], registers }),
    followers: new Gauge({ name: "nimbus_logs_followers", help: "Live log follows (server-sent event streams) open now.", registers }),
  };
}
