/** Prunes expired entries from the token ledger now and then (every replica may; a purge is idempotent). */
import type { Logger } from "../core/log.ts";
import type { TokenLedger } from "../auth/ledger-store.ts";

export const LEDGER_PRUNE_INTERVAL_MS = 10 * 60_000;

export function startLedgerPruner(ledger: TokenLedger, log: Logger, everyMs = LEDGER_PRUNE_INTERVAL_MS): { stop(): void } {
  const run = () =>
    ledger.prune().then(
      (n) => n && log.info("pruned expired tokens from the ledger", { count: n }),
      (e) => log.warn("token ledger prune failed", { error: e }),
    );
  void run();
  const timer = setInterval(run, everyMs);
  timer.unref?.();
  return { stop: () => clearInterval(timer) };
}
