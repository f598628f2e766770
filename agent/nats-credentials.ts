/**
 * The agent's NATS user under decentralized auth: a key made here (its seed never leaves this
 * process), a short-lived user JWT for it from the control plane (POST /api/agents/nats-credentials,
 * paid for with the agent token), renewed at half its life. The NATS client asks `current()` on every
 * (re)connect. A refused renewal (revoked token) is retried; the server cuts the agent off when the
 * last JWT expires.
 */
import { createUser } from "@nats-io/nkeys";
import type { Logger } from "../src/core/log.ts";

export class RenewingNatsCredentials {
  private readonly seed: string;
  private readonly publicKey: string;
  private jwt = "";
  private expiresAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  private constructor(private readonly controlUrl: string, private readonly token: string, private readonly log: Logger) {
    const kp = createUser();
    this.seed = new TextDecoder().decode(kp.getSeed());
    this.publicKey = kp.getPublicKey();
  }

  /** Resolves with the first JWT in hand (retrying while the control plane cannot be reached). */
  static async start(controlUrl: string, token: string, log: Logger, timeoutMs = 120_000): Promise<RenewingNatsCredentials> {
    const c = new RenewingNatsCredentials(controlUrl.replace(/\/+$/, ""), token, log);
    const deadline = Date.now() + timeoutMs;
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await c.renew();
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        log.warn("NATS credentials not obtained yet", { error: e });
        await Bun.sleep(delay);
      }
    }
    c.schedule();
    return c;
  }

  current(): { jwt: string; seed: string } {
    return { jwt: this.jwt, seed: this.seed };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async renew(): Promise<void> {
    const res = await fetch(`${this.controlUrl}/api/agents/nats-credentials`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: JSON.stringify({ publicKey: this.publicKey }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json().catch(() => ({}))) as { jwt?: string; expiresAt?: string; message?: string };
    if (!res.ok || !body.jwt || !body.expiresAt) throw new Error(`the control plane refused NATS credentials (${res.status}): ${body.message ?? "no JWT"}`);
    this.jwt = body.jwt;
    this.expiresAt = Date.parse(body.expiresAt);
  }

  private schedule(): void {
    if (this.stopped) return;
    const wait = Math.max(1_000, (this.expiresAt - Date.now()) / 2);
    this.timer = setTimeout(() => {
      this.renew().then(
        () => this.schedule(),
        (e) => {
          this.log.warn("NATS credentials renewal failed; retrying", { error: e, expiresAt: new Date(this.expiresAt).toISOString() });
          if (!this.stopped) this.timer = setTimeout(() => this.schedule(), 2_000);
        },
      );
    }, wait);
  }
}
