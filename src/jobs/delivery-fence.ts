/**
 * Webhook replay fence, shared by every forge's intake: a delivery id is written once (a KV create,
 * kept 72 h by the bucket); a repeat is a duplicate and changes nothing. The fence write and the
 * delivery's work run side by side (one round trip saved) — the work must be idempotent and must not
 * re-enqueue until `fresh` says so. Work that fails forgets the id, so a redelivery is processed.
 */
import type { KV } from "@nats-io/kv";
import { unlessCasLost } from "../nats/errors.ts";

const enc = new TextEncoder();

export type Fenced<T> = { duplicate: true } | { duplicate: false; result: T };

export async function fenceDelivery<T>(deliveries: KV, key: string, event: string, work: (fresh: Promise<boolean>) => Promise<T>): Promise<Fenced<T>> {
  const fence = unlessCasLost(deliveries.create(key, enc.encode(event))).then((rev) => rev !== null);
  const done = work(fence).then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  const [fresh, outcome] = await Promise.all([fence, done]).catch(async (e) => {
    await done; // the fence itself failed (NATS unavailable): let the work settle, then answer with the error
    throw e;
  });
  if (!fresh) return { duplicate: true };
  if (outcome.ok) return { duplicate: false, result: outcome.r };
  await deliveries.delete(key).catch(() => {});
  throw outcome.e;
}
