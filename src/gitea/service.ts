/**
 * The forge integration's workers inside one control-plane replica: the polling backstop, run by
 * one leader (src/nats/leadership.ts) across replicas. Off when no forge is configured.
 */
import { randomBytes } from "node:crypto";
import { errorMessage } from "../core/errors.ts";
import { Leadership } from "../nats/leadership.ts";
import type { KV } from "@nats-io/kv";
import type { ForgeConnection } from "./config.ts";
import type { ForgeIntakeDeps } from "./intake.ts";
import type { ForgeMetrics } from "./metrics.ts";
import { ForgePoll } from "./poll.ts";

export interface ForgeWorkers {
  poll: ForgePoll | null;
  stop(): Promise<void>;
}

export function startForgeWorkers(forges: ForgeConnection[], deps: ForgeIntakeDeps & { metrics: ForgeMetrics; intervalMs: number; leaders: KV; fetchFn?: typeof fetch }): ForgeWorkers {
  if (!forges.length) return { poll: null, stop: async () => {} };
  const poll = new ForgePoll(forges, deps);
  const leadership = new Leadership(deps.leaders, "forge-poller", `control-${randomBytes(4).toString("hex")}`);
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    if (await leadership.isLeader()) await poll.poll();
  };
  // Each connection has its own next time (interval or backoff); the tick only looks who is due.
  const timer = setInterval(() => {
    running = running.then(() => tick().catch((e) => deps.log.warn("forge poll tick failed", { error: errorMessage(e) })));
  }, Math.min(deps.intervalMs, 1_000));
  return {
    poll,
    async stop() {
      clearInterval(timer);
      await running;
      await leadership.release();
    },
  };
}
