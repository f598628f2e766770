/**
 * Pulls jobs from the pools this agent serves, never holding more messages than it has free
 * slots (a message waiting here is a message another agent cannot take).
 */
import type { Consumer, JsMsg } from "@nats-io/jetstream";

export class Slots {
  private used = 0;
  private waiters: (() => void)[] = [];
  constructor(readonly size: number) {}

  get free(): number {
    return this.size - this.used;
  }

  tryAcquire(): boolean {
    if (this.used >= this.size) return false;
    this.used++;
    return true;
  }

  release(): void {
    this.used--;
    this.waiters.shift()?.();
  }

  /** Resolves when a slot is free (does not take it). */
  async whenFree(): Promise<void> {
    while (this.used >= this.size) await new Promise<void>((r) => this.waiters.push(r));
  }

  async idle(): Promise<void> {
    while (this.used > 0) await new Promise<void>((r) => this.waiters.push(r));
  }
}

/** One puller per free slot per pool; each message is handed to `handle` holding a slot. */
export function pullLoop(
  consumer: Consumer,
  slots: Slots,
  isStopping: () => boolean,
  handle: (m: JsMsg) => Promise<void>,
  onError: (e: unknown) => void,
): Promise<void>[] {
  const worker = async () => {
    while (!isStopping()) {
      await slots.whenFree();
      if (isStopping()) break;
      let m: JsMsg | null;
      try {
        m = await consumer.next({ expires: 1000 });
      } catch (e) {
        onError(e);
        await Bun.sleep(500);
        continue;
      }
      if (!m) continue;
      if (isStopping() || !slots.tryAcquire()) {
        m.nak(); // someone else (or we, later) will take it
        continue;
      }
      await handle(m).finally(() => slots.release());
    }
  };
  return Array.from({ length: slots.size }, worker);
}
