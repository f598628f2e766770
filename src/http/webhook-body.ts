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

/**
 * The core of a `workflow_job` payload that GitHub and Gitea share (Gitea's follows GitHub's):
 * an action, and a job with a positive id, a run id and at most 100 string labels. Throws `bad_request`
 * naming the field; the caller checks what its forge adds.
 */
export function checkWorkflowJobCore(payload: unknown): (what: string) => AppError {
  const p = payload as { action?: unknown; workflow_job?: { id?: unknown; run_id?: unknown; labels?: unknown } };
  const wj = p.workflow_job;
  const bad = (what: string) => new AppError("bad_request", `workflow_job payload: ${what}`);
  if (typeof p.action !== "string") throw bad("missing action");
  if (!wj || typeof wj !== "object") throw bad("missing workflow_job");
  if (!Number.isSafeInteger(wj.id) || (wj.id as number) <= 0) throw bad("workflow_job.id must be a positive integer");
  if (!Number.isSafeInteger(wj.run_id)) throw bad("workflow_job.run_id must be an integer");
  if (!Array.isArray(wj.labels) || wj.labels.length > 100 || !wj.labels.every((l) => typeof l === "string" && l.length <= 255)) throw bad("workflow_job.labels must be a list of at most 100 strings");
  return bad;
}
