/** What every forge's webhook shares once its signature is checked: delivery id form and a JSON object body. */
import { AppError } from "../core/errors.ts";

export const DELIVERY_ID = /^[A-Za-z0-9-]{1,100}$/;

/** The delivery's event and id headers, present and of the right form; `names` are the headers to name in errors. */
export function deliveryHeaders(event: string | null, deliveryId: string | null, names: { event: string; delivery: string }): { event: string; deliveryId: string } {
  if (!event) throw new AppError("bad_request", `missing ${names.event}`);
  if (!deliveryId || !DELIVERY_ID.test(deliveryId)) throw new AppError("bad_request", `missing or malformed ${names.delivery}`);
  return { event, deliveryId };
}

/** The raw body as a JSON object: `invalid_json` otherwise. */
export function webhookJson(rawBody: string): Record<string, unknown> {
  let payload: unknown;
  try {
    payload = JSON.parse(rawBody);
  } catch (e) {
    throw new AppError("invalid_json", `webhook body is not valid JSON: ${(e as Error).message}`);
  }
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) throw new AppError("invalid_json", "webhook body must be a JSON object");
  return payload as Record<string, unknown>;
}
