/**
 * Firecracker's API: HTTP/1.1 over its unix socket. 2xx is success (PUT/PATCH answer 204);
 * errors carry `{"fault_message": ...}` and become AppErrors naming the request.
 */
import { AppError } from "../../../src/core/errors.ts";
import type { ApiRequest } from "./requests.ts";

export class FirecrackerApi {
  constructor(readonly socket: string) {}

  async send<T = unknown>(req: ApiRequest): Promise<T | undefined> {
    const res = await fetch(`http://localhost${req.path}`, {
      unix: this.socket,
      method: req.method,
      headers: req.body ? { "content-type": "application/json", accept: "application/json" } : { accept: "application/json" },
      body: req.body ? JSON.stringify(req.body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) {
      let fault = text;
      try {
        fault = (JSON.parse(text) as { fault_message?: string }).fault_message ?? text;
      } catch {}
      throw new AppError(res.status === 400 ? "bad_request" : "internal", `firecracker ${req.method} ${req.path}: ${fault}`, { status: res.status });
    }
    return text ? (JSON.parse(text) as T) : undefined;
  }

  async sendAll(reqs: ApiRequest[]): Promise<void> {
    for (const r of reqs) await this.send(r);
  }

  /** Waits until the API socket answers (the process creates it within milliseconds). */
  async waitReady(timeoutMs = 5_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.send({ method: "GET", path: "/" });
        return;
      } catch (e) {
        if (Date.now() > end) throw new AppError("unavailable", `firecracker API socket ${this.socket} did not answer: ${String(e)}`);
        await Bun.sleep(5);
      }
    }
  }
}
