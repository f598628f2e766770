/**
 * A bucket's keys, listed again when the listing times out. On a cluster with a node down (nats-server
 * 2.9), the ephemeral consumer a listing makes can land on the lost node and never answer: each
 * listing is a new consumer, so a repeat usually lands on a live one (measured: about one listing in
 * three timed out while one of three nodes was down, none once it was back).
 */
import type { KV } from "@nats-io/kv";

const isTimeout = (e: unknown) => e instanceof Error && (e.name === "TimeoutError" || /timeout/i.test(e.message));

export async function listKeys(kv: KV, opts: { attempts?: number; backoffMs?: number } = {}): Promise<string[]> {
  const attempts = opts.attempts ?? 6;
  for (let i = 1; ; i++) {
    try {
      const keys: string[] = [];
      for await (const k of await kv.keys()) keys.push(k);
      return keys;
    } catch (e) {
      if (!isTimeout(e) || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, (opts.backoffMs ?? 100) * i));
    }
  }
}
