/**
 * The simulator's webhook sender: signs each delivery like GitHub (X-Hub-Signature-256 over the
 * raw body), records it for the deliveries API, and injects faults on demand: drop (either
 * recorded as a failed delivery, which redelivery can recover, or lost without a trace, which
 * only polling recovers), delay (which also reorders), duplicate.
 */
import { randomUUID } from "node:crypto";
import { Webhooks } from "@octokit/webhooks";

export interface WebhookFaults {
  drop: number;
  /** Share of dropped deliveries GitHub records as failed (the rest vanish). */
  dropRecorded: number;
  delay: number;
  delayMs: number;
  duplicate: number;
}

export interface SimDelivery {
  id: number;
  guid: string;
  event: string;
  action: string | null;
  body: string;
  status_code: number;
  status: string;
  delivered_at: string;
  redelivery: boolean;
}

export interface DeliveryCounts {
  sent: number;
  dropped: number;
  droppedRecorded: number;
  delayed: number;
  duplicated: number;
  redelivered: number;
}

export class WebhookSender {
  readonly deliveries: SimDelivery[] = [];
  readonly counts: DeliveryCounts = { sent: 0, dropped: 0, droppedRecorded: 0, delayed: 0, duplicated: 0, redelivered: 0 };
  faults: WebhookFaults = { drop: 0, dropRecorded: 0.5, delay: 0, delayMs: 0, duplicate: 0 };
  private nextId = 1;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly webhooks: Webhooks;

  constructor(
    secret: string,
    public target: string,
    private readonly rand: () => number,
  ) {
    this.webhooks = new Webhooks({ secret });
  }

  /** Send (or fail to send) one event, as GitHub would. */
  emit(event: string, payload: Record<string, unknown>): void {
    const body = JSON.stringify(payload);
    const d: SimDelivery = {
      id: this.nextId++, guid: randomUUID(), event, action: (payload.action as string) ?? null, body,
      status_code: 0, status: "pending", delivered_at: new Date().toISOString(), redelivery: false,
    };
    const f = this.faults;
    if (this.rand() < f.drop) {
      this.counts.dropped++;
      if (this.rand() < f.dropRecorded) {
        this.counts.droppedRecorded++;
        d.status_code = 502;
        d.status = "failed to connect";
        this.deliveries.push(d);
      }
      return;
    }
    this.deliveries.push(d);
    const copies = this.rand() < f.duplicate ? 2 : 1;
    if (copies === 2) this.counts.duplicated++;
    const delay = this.rand() < f.delay ? f.delayMs : 0;
    if (delay) this.counts.delayed++;
    for (let i = 0; i < copies; i++) this.track(delay ? Bun.sleep(delay).then(() => this.send(d)) : this.send(d));
  }

  /** POST /app/hook/deliveries/{id}/attempts: the same guid and body again, without faults. */
  redeliver(id: number): boolean {
    const orig = this.deliveries.find((x) => x.id === id);
    if (!orig) return false;
    const d: SimDelivery = { ...orig, id: this.nextId++, status_code: 0, status: "pending", delivered_at: new Date().toISOString(), redelivery: true };
    this.deliveries.push(d);
    this.counts.redelivered++;
    this.track(this.send(d));
    return true;
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async send(d: SimDelivery): Promise<void> {
    this.counts.sent++;
    try {
      const res = await fetch(this.target, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "GitHub-Hookshot/sim",
          "x-github-event": d.event,
          "x-github-delivery": d.guid,
          "x-github-hook-id": "1",
          "x-hub-signature-256": await this.webhooks.sign(d.body),
        },
        body: d.body,
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      d.status_code = res.status;
      d.status = res.ok ? "OK" : `HTTP ${res.status}`;
    } catch (e) {
      d.status_code = 0;
      d.status = (e as Error).message;
    }
  }

  async settle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }
}
