/**
 * An ObjectStore behind a circuit breaker. Backend failures (network, timeouts, 5xx) count against the
 * breaker and surface as `unavailable`; client problems (a body too large, a client that went away,
 * a missing object) do not. While the breaker is open a prober checks the backend every cooldown
 * and closes the breaker as soon as it answers, so recovery does not wait for traffic.
 */
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { CircuitBreaker } from "./breaker.ts";
import type { ObjectStore } from "./types.ts";

export interface GuardedStore extends ObjectStore {
  readonly breaker: CircuitBreaker;
  /** True when the backend is usable: breaker not open and a check passed within `freshMs`. */
  healthy(freshMs?: number): Promise<boolean>;
  stopProbe(): void;
}

class BodyError extends Error {}

/** Tag errors raised while reading the client's body, so they are not blamed on the backend. */
function tagBody(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r: Awaited<ReturnType<typeof reader.read>>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new BodyError(`request body failed: ${(e as Error)?.message ?? e}`);
      }
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

function isBackendFailure(e: unknown): boolean {
  if (e instanceof BodyError) return false;
  if (e instanceof AppError) return e.code === "unavailable" || e.code === "internal";
  const cause = (e as { cause?: unknown })?.cause;
  return !(cause instanceof AppError || cause instanceof BodyError);
}

export interface GuardOptions {
  breaker: CircuitBreaker;
  /** What the store is, for errors and logs: "cache storage", "registry storage". */
  label: string;
  probeMs: number;
  log: Logger;
  onBackendError?: (op: string) => void;
  checkTimeoutMs?: number;
}

export function guardStore(inner: ObjectStore, o: GuardOptions): GuardedStore {
  const { breaker } = o;
  let lastOk = 0;
  const unavailable = () => new AppError("unavailable", `${o.label} is unavailable`);

  async function call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (!breaker.allow()) throw unavailable();
    try {
      const out = await fn();
      breaker.success();
      lastOk = Date.now();
      return out;
    } catch (e) {
      if (!isBackendFailure(e)) {
        breaker.success();
        throw e instanceof BodyError ? new AppError("bad_request", e.message) : e;
      }
      breaker.failure();
      o.onBackendError?.(op);
      o.log.warn(`${o.label} call failed`, { op, error: e, breaker: breaker.state });
      throw unavailable();
    }
  }

  async function check(): Promise<void> {
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("storage check timed out")), o.checkTimeoutMs ?? 2000).unref?.());
    await Promise.race([inner.check(), timeout]);
  }

  const timer = setInterval(() => {
    if (breaker.state === "closed") return;
    check().then(
      () => {
        breaker.success();
        lastOk = Date.now();
        o.log.info(`${o.label} is back; breaker closed`);
      },
      () => breaker.trip(),
    );
  }, o.probeMs);
  timer.unref?.();

  return {
    kind: inner.kind,
    breaker,
    put: (name, body, limits) => call("put", () => inner.put(name, tagBody(body), limits)),
    putAt: inner.putAt ? (name, offset, body, limits) => call("put", () => inner.putAt!(name, offset, tagBody(body), limits)) : undefined,
    adopt: inner.adopt ? (name, file) => call("put", () => inner.adopt!(name, file)) : undefined,
    compose: inner.compose ? (dest, pieces) => call("compose", () => inner.compose!(dest, pieces)) : undefined,
    read: (name, start, end) => call("read", () => inner.read(name, start, end)),
    size: (name) => call("size", () => inner.size(name)),
    stat: (name) => call("size", () => inner.stat(name)),
    delete: (names) => call("delete", () => inner.delete(names)),
    list: (prefix) => inner.list(prefix),
    check: () => call("check", check),
    async healthy(freshMs = 1000) {
      if (breaker.state === "open") return false;
      if (Date.now() - lastOk < freshMs && breaker.state === "closed") return true;
      try {
        await check();
        breaker.success();
        lastOk = Date.now();
        return true;
      } catch (e) {
        o.onBackendError?.("check");
        o.log.warn(`${o.label} check failed; breaker opened`, { error: e });
        breaker.trip();
        return false;
      }
    },
    stopProbe: () => clearInterval(timer),
    close: () => inner.close?.() ?? Promise.resolve(),
  };
}
