/**
 * Circuit breaker for the storage backend: `failures` consecutive backend failures open it; while
 * open every call is refused at once; after `cooldownMs` one trial call is let through (half-open),
 * and its success closes the breaker, its failure re-opens it. A pure state machine over a clock.
 */
export type BreakerState = "closed" | "open" | "half_open";

export interface BreakerOptions {
  failures: number;
  cooldownMs: number;
  now?: () => number;
  onChange?: (state: BreakerState) => void;
}

export class CircuitBreaker {
  private _state: BreakerState = "closed";
  private consecutive = 0;
  private openedAt = 0;
  private trialInFlight = false;
  private readonly now: () => number;

  constructor(private readonly opts: BreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get state(): BreakerState {
    return this._state;
  }

  private set(state: BreakerState): void {
    if (state === this._state) return;
    this._state = state;
    this.opts.onChange?.(state);
  }

  /** May a call go to the backend now? In half-open state only one trial at a time. */
  allow(): boolean {
    if (this._state === "closed") return true;
    if (this._state === "open" && this.now() - this.openedAt >= this.opts.cooldownMs) this.set("half_open");
    if (this._state === "half_open" && !this.trialInFlight) {
      this.trialInFlight = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.consecutive = 0;
    this.trialInFlight = false;
    this.set("closed");
  }

  failure(): void {
    this.trialInFlight = false;
    this.consecutive += 1;
    if (this._state === "half_open" || this.consecutive >= this.opts.failures) this.trip();
  }

  /** Open now (a failed health probe is conclusive). */
  trip(): void {
    this.openedAt = this.now();
    this.trialInFlight = false;
    this.set("open");
  }
}
