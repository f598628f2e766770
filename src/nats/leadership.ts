/**
 * Leader election over a NATS KV key: create it, then keep it by CAS on the revision held; the
 * bucket's max age frees it when the leader dies. One leader runs each reconciler (GitHub, forges).
 */
import type { KV } from "@nats-io/kv";
import { unlessCasLost } from "./errors.ts";

export class Leadership {
  private rev = 0;

  constructor(
    private readonly kv: KV,
    private readonly key: string,
    private readonly replicaId: string,
  ) {}

  /** Take or keep the key; false when another replica holds it. */
  async isLeader(): Promise<boolean> {
    const value = new TextEncoder().encode(this.replicaId);
    const rev = await unlessCasLost(this.rev ? this.kv.update(this.key, value, this.rev) : this.kv.create(this.key, value));
    this.rev = rev ?? 0;
    return rev !== null;
  }

  /** Give the key up (if still ours), so another replica need not wait for its max age. */
  async release(): Promise<void> {
    if (this.rev) await this.kv.delete(this.key, { previousSeq: this.rev }).catch(() => {});
    this.rev = 0;
  }
}
