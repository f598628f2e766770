/**
 * A GitHub webhook delivery, checked: the signature (`X-Hub-Signature-256`, HMAC-SHA256 of the
 * raw body, compared in constant time by @octokit/webhooks) before anything else, then the
 * headers, then the JSON. Errors carry codes: a bad or missing signature is `unauthorized`,
 * missing headers or malformed JSON are `bad_request`/`invalid_json`.
 */
import { Webhooks } from "@octokit/webhooks";
import { AppError } from "../core/errors.ts";
import { checkWorkflowJobCore, deliveryHeaders, webhookJson } from "../http/webhook-body.ts";

export interface Delivery {
  event: string;
  deliveryId: string;
  payload: unknown;
}

export interface WorkflowJobPayload {
  action: "queued" | "waiting" | "in_progress" | "completed" | string;
  workflow_job: {
    id: number;
    run_id: number;
    run_attempt?: number;
    name?: string;
    workflow_name?: string | null;
    status?: string;
    conclusion?: string | null;
    labels: string[];
    runner_id?: number | null;
    runner_name?: string | null;
    created_at?: string | null;
    started_at?: string | null;
    completed_at?: string | null;
    html_url?: string;
    /** The branch the run is on (GitHub names it for push and pull request runs). */
    head_branch?: string | null;
  };
  repository: { name: string; full_name: string; owner: { login: string; type?: string } };
  organization?: { login: string } | null;
  /** `account` is in installation events and the reconciler's polls; workflow_job deliveries name the id only. */
  installation?: { id: number; account?: { login: string } | null } | null;
}

const SIGNATURE = /^sha256=[0-9a-f]{64}$/i;

/** The signature header's presence and form, checked before the body is read (an unsigned body is never read). */
export function checkSignatureHeader(headers: Headers): void {
  const signature = headers.get("x-hub-signature-256");
  if (!signature) throw new AppError("unauthorized", "missing X-Hub-Signature-256");
  if (!SIGNATURE.test(signature)) throw new AppError("unauthorized", "X-Hub-Signature-256 is not of the form sha256=<64 hex digits>");
}

export class WebhookVerifier {
  private readonly webhooks: Webhooks;
  constructor(secret: string) {
    this.webhooks = new Webhooks({ secret });
  }

  sign(body: string): Promise<string> {
    return this.webhooks.sign(body);
  }

  async check(headers: Headers, rawBody: string): Promise<Delivery> {
    const signature = headers.get("x-hub-signature-256");
    if (!signature) throw new AppError("unauthorized", "missing X-Hub-Signature-256");
    let ok = false;
    try {
      ok = await this.webhooks.verify(rawBody, signature);
    } catch {
      ok = false;
    }
    if (!ok) throw new AppError("unauthorized", "X-Hub-Signature-256 does not match the body");
    const { event, deliveryId } = deliveryHeaders(headers.get("x-github-event"), headers.get("x-github-delivery"), { event: "X-GitHub-Event", delivery: "X-GitHub-Delivery" });
    return { event, deliveryId, payload: webhookJson(rawBody) };
  }
}

/** Shape check of a workflow_job payload: the fields intake relies on, named when missing. */
export function asWorkflowJob(payload: unknown): WorkflowJobPayload {
  const bad = checkWorkflowJobCore(payload);
  const p = payload as Partial<WorkflowJobPayload>;
  const repo = p.repository;
  if (!repo || typeof repo.name !== "string" || typeof repo.owner?.login !== "string") throw bad("missing repository.name or repository.owner.login");
  return p as WorkflowJobPayload;
}

export const ghTime = (s: string | null | undefined): number | undefined => {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
};
