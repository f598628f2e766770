/** Metrics of the forge integration; the forge label is a configured connection id (at most 64). */
import { Counter, type Registry } from "prom-client";
import { ERROR_CODES } from "../core/errors.ts";
import type { ForgeConnection } from "./config.ts";

const OUTCOMES = new Set(["created", "exists", "duplicate", "ignored", "error", ...ERROR_CODES]);

export function forgeMetrics(registry: Registry) {
  const webhooks = new Counter({ name: "nimbus_forge_webhooks_total", help: "Gitea/Forgejo webhook deliveries by connection, kind and outcome.", labelNames: ["forge", "kind", "outcome"], registers: [registry] });
  const polls = new Counter({ name: "nimbus_forge_polls_total", help: "Polls of Gitea/Forgejo job lists by connection, kind and result (ok, backoff, error).", labelNames: ["forge", "kind", "result"], registers: [registry] });
  return {
    webhook(f: ForgeConnection, outcome: string) {
      webhooks.inc({ forge: f.id, kind: f.kind, outcome: OUTCOMES.has(outcome) ? outcome : "other" });
    },
    poll(f: ForgeConnection, result: "ok" | "backoff" | "error") {
      polls.inc({ forge: f.id, kind: f.kind, result });
    },
  };
}
export type ForgeMetrics = ReturnType<typeof forgeMetrics>;
