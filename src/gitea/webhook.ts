/**
 * A Gitea/Forgejo webhook delivery, checked: the signature — hex HMAC-SHA256 of the raw body with
 * the connection's secret, in X-Gitea-Signature (Forgejo also sends X-Forgejo-Signature) — compared in
 * constant time before anything else, then the event and delivery id headers, then the JSON.
 * A bad or missing signature is `unauthorized`; missing headers or malformed JSON `bad_request`/`invalid_json`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { AppError } from "../core/errors.ts";
import type { ForgeConnection } from "./config.ts";
import { checkWorkflowJobCore, deliveryHeaders, webhookJson } from "../http/webhook-body.ts";

export interface ForgeDelivery {
  event: string;
  deliveryId: string;
  payload: unknown;
}

/** The `workflow_job` payload Gitea ≥ 1.24 sends (its shape follows GitHub's). */
export interface ForgeWorkflowJob {
  action: "queued" | "waiting" | "in_progress" | "completed" | string;
  workflow_job: { id: number; run_id: number; name?: string; labels: string[]; status?: string; conclusion?: string | null; runner_id?: number; runner_name?: string };
  repository: { name: string; full_name: string; owner: { login: string } };
}

const SIGNATURE = /^[0-9a-f]{64}$/i;

const header = (h: Headers, kind: ForgeConnection["kind"], name: string) => (kind === "forgejo" ? h.get(`x-forgejo-${name}`) : null) ?? h.get(`x-gitea-${name}`);

/** The signature header's presence and form, checked before the body is read. */
export function checkForgeSignatureHeader(h: Headers, kind: ForgeConnection["kind"]): string {
  const sig = header(h, kind, "signature");
  if (!sig) throw new AppError("unauthorized", `missing ${kind === "forgejo" ? "X-Forgejo-Signature" : "X-Gitea-Signature"}`);
  if (!SIGNATURE.test(sig)) throw new AppError("unauthorized", "the signature is not 64 hex digits");
  return sig;
}

export function signForgeBody(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

export function verifyForgeDelivery(f: ForgeConnection, h: Headers, rawBody: string): ForgeDelivery {
  const sig = Buffer.from(checkForgeSignatureHeader(h, f.kind).toLowerCase(), "hex");
  const want = Buffer.from(signForgeBody(f.webhookSecret, rawBody), "hex");
  if (!timingSafeEqual(sig, want)) throw new AppError("unauthorized", "the signature does not match the body");
  const { event, deliveryId } = deliveryHeaders(header(h, f.kind, "event"), header(h, f.kind, "delivery"), { event: "X-Gitea-Event", delivery: "X-Gitea-Delivery" });
  return { event, deliveryId, payload: webhookJson(rawBody) };
}

/** Shape check of a workflow_job payload: the fields intake relies on, named when missing. */
export function asForgeWorkflowJob(payload: unknown): ForgeWorkflowJob {
  const bad = checkWorkflowJobCore(payload);
  const p = payload as Partial<ForgeWorkflowJob>;
  const repo = p.repository;
  if (!repo || typeof repo.full_name !== "string" || typeof repo.name !== "string" || typeof repo.owner?.login !== "string") throw bad("missing repository.full_name, name or owner.login");
  return p as ForgeWorkflowJob;
}
