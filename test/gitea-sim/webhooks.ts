/**
 * The simulator's webhook sender: `workflow_job` deliveries as Gitea (≥ 1.24) sends them — hex
 * HMAC-SHA256 of the raw body in X-Gitea-Signature (Forgejo: X-Forgejo-Signature as well), the
 * delivery id in X-Gitea-Delivery — with faults on demand: drop, delay (which reorders), duplicate.
 */
import { createHmac, randomUUID } from "node:crypto";
import type { SimJob } from "./model.ts";
import { jobJson } from "./rest.ts";

export interface HookFaults {
  drop: number;
  delay: number;
  delayMs: number;
  duplicate: number;
}

export class GiteaWebhooks {
  readonly sent: { id: string; action: string; jobId: number; status: number }[] = [];
  readonly counts = { sent: 0, dropped: 0, delayed: 0, duplicated: 0 };
  faults: HookFaults = { drop: 0, delay: 0, delayMs: 0, duplicate: 0 };
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly secret: string,
    public target: string,
    private readonly kind: "gitea" | "forgejo",
    private readonly rand: () => number = Math.random,
  ) {}

  /** The headers and body Gitea would send for one event (also used by tests that forge deliveries). */
  sign(body: string, id: string = randomUUID(), event = "workflow_job"): Record<string, string> {
    const sig = createHmac("sha256", this.secret).update(body).digest("hex");
    const h: Record<string, string> = { "content-type": "application/json", "x-gitea-event": event, "x-gitea-event-type": event, "x-gitea-delivery": id, "x-gitea-signature": sig };
    if (this.kind === "forgejo") Object.assign(h, { "x-forgejo-event": event, "x-forgejo-delivery": id, "x-forgejo-signature": sig });
    return h;
  }

  payload(job: SimJob, action: "queued" | "in_progress" | "completed") {
    const [owner, name] = job.repo.split("/");
    return { action, workflow_job: jobJson(job), repository: { id: 1, name, full_name: job.repo, owner: { login: owner } }, sender: { login: owner } };
  }

  emit(job: SimJob, action: "queued" | "in_progress" | "completed"): void {
    const body = JSON.stringify(this.payload(job, action));
    if (this.rand() < this.faults.drop) {
      this.counts.dropped++;
      return;
    }
    const copies = this.rand() < this.faults.duplicate ? 2 : 1;
    if (copies === 2) this.counts.duplicated++;
    const delay = this.rand() < this.faults.delay ? this.faults.delayMs : 0;
    if (delay) this.counts.delayed++;
    const headers = this.sign(body);
    for (let i = 0; i < copies; i++) this.track(this.deliver(headers, body, job.id, action, delay));
  }

  private async deliver(headers: Record<string, string>, body: string, jobId: number, action: string, delay: number) {
    if (delay) await Bun.sleep(delay);
    let status = 0;
    try {
      status = (await fetch(this.target, { method: "POST", headers, body, signal: AbortSignal.timeout(10_000) })).status;
    } catch {}
    this.counts.sent++;
    this.sent.push({ id: headers["x-gitea-delivery"]!, action, jobId, status });
  }

  private track(p: Promise<unknown>) {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  async settle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
