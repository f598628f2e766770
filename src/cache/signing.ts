/**
 * Signed blob URLs: `sig` (HMAC-SHA256, base64url) over the permission, the resource and the expiry.
 * The client masks the `sig` query parameter in its logs, so the secret part lives there.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { AppError } from "../core/errors.ts";

export type BlobPermission = "r" | "cw";
export type BlobKind = "u" | "e"; // upload in progress, committed entry

export class UrlSigner {
  private readonly key: Buffer;
  constructor(secret: string, private readonly ttlSeconds: number) {
    this.key = createHmac("sha256", secret).update("nimbus-cache-blob-url-v1").digest();
  }

  private mac(sp: BlobPermission, kind: BlobKind, id: number, se: number): string {
    return createHmac("sha256", this.key).update(`${sp}\n${kind}\n${id}\n${se}`).digest("base64url");
  }

  /** Path and query for a blob URL; the caller prefixes the public origin. */
  sign(sp: BlobPermission, kind: BlobKind, id: number, now = Date.now()): string {
    const se = Math.floor(now / 1000) + this.ttlSeconds;
    return `/blob/nimbus/${kind}/${id}?sp=${sp}&se=${se}&sig=${this.mac(sp, kind, id, se)}`;
  }

  /** Throws 403 unless the query carries a valid, unexpired signature for exactly this use. */
  verify(sp: BlobPermission, kind: BlobKind, id: number, query: URLSearchParams, now = Date.now()): void {
    const sig = query.get("sig") ?? "";
    const se = Number(query.get("se"));
    if (query.get("sp") !== sp || !Number.isInteger(se)) throw new AppError("forbidden", "blob URL signature does not grant this access");
    const want = Buffer.from(this.mac(sp, kind, id, se));
    const got = Buffer.from(sig);
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new AppError("forbidden", "blob URL signature is invalid");
    if (se * 1000 < now) throw new AppError("forbidden", "blob URL has expired");
  }
}
