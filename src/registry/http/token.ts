/**
 * A stand-in token endpoint for the access seam: `GET /token` with Basic auth whose password is a
 * Nimbus token answers that same token as the bearer token, once it verifies. Clients that only
 * speak the Docker token flow with credentials (`podman --creds`, `buildah --creds`,
 * `skopeo --creds`) then send it as `Authorization: Bearer`, which `bearerAccess` checks per repository.
 * The Docker token flow proper (scoped, short-lived registry tokens) replaces this.
 */
import { AppError } from "../../core/errors.ts";
import { authenticate, type AuthOptions } from "../../http/common.ts";

export function basicPassword(header: string | null): string | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? "");
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = text.indexOf(":");
  return colon < 0 ? undefined : text.slice(colon + 1);
}

export async function tokenFor(request: Request, auth: AuthOptions): Promise<{ token: string; access_token: string; expires_in: number; issued_at: string }> {
  const header = request.headers.get("authorization");
  const token = basicPassword(header) ?? (/^Bearer\s+(\S+)$/i.exec(header ?? "")?.[1]);
  if (!token) throw new AppError("unauthorized", "credentials required: Basic auth with a Nimbus token as the password");
  const t = await authenticate(new Request(request.url, { headers: { authorization: `Bearer ${token}` } }), auth);
  const expiresIn = Math.max(1, t.exp - Math.floor(Date.now() / 1000));
  return { token, access_token: token, expires_in: Math.min(expiresIn, 3600), issued_at: new Date().toISOString() };
}
