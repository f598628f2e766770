/**
 * Archives on another replica's disk (fs storage): fetched from that replica, the entry's home, with
 * a blob URL signed as the home would sign it (every replica shares the secret), and streamed on.
 * A home that does not answer is taken as down for a while, and its entries are misses meanwhile,
 * so jobs go on without the cache instead of waiting on a dead host.
 */
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { CacheEntry } from "../model.ts";
import type { UrlSigner } from "../signing.ts";

/** The header a replica sets when it asks another: such a request is served from storage or refused, never passed on. */
export const PEER_HEADER = "x-nimbus-cache-peer";
const DOWN_FOR_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export class PeerReader {
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly signer: UrlSigner,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  reachable(home: string): boolean {
    return (this.downUntil.get(home) ?? 0) <= this.now();
  }

  /** Bytes [start, end] of entry `e`'s archive from its home. */
  async read(e: CacheEntry, start: number, end: number): Promise<ReadableStream<Uint8Array>> {
    const url = `${e.home.replace(/\/+$/, "")}${this.signer.sign("r", "e", e.id, this.now())}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), CONNECT_TIMEOUT_MS);
    let res: Response;
    try {
      res = await fetch(url, { headers: { range: `bytes=${start}-${end}`, [PEER_HEADER]: "1" }, signal: abort.signal });
    } catch (err) {
      this.downUntil.set(e.home, this.now() + DOWN_FOR_MS);
      this.log.warn("cache replica unreachable", { home: e.home, error: err });
      throw new AppError("unavailable", `the cache replica holding this entry (${e.home}) is unreachable`);
    } finally {
      clearTimeout(timer);
    }
    if ((res.status !== 206 && res.status !== 200) || !res.body) {
      await res.body?.cancel();
      throw new AppError(res.status === 404 ? "not_found" : "unavailable", `the cache replica holding this entry (${e.home}) answered ${res.status}`);
    }
    return res.body;
  }
}
