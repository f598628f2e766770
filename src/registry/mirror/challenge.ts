/**
 * An upstream's `WWW-Authenticate` challenge, pure: `Bearer realm="…",service="…",scope="…"` (the
 * Docker token flow) or `Basic realm="…"` (htpasswd). Bounded: an oversized or unparsable header is
 * no challenge at all.
 */
export type Challenge =
  | { scheme: "bearer"; realm: string; service?: string; scope?: string }
  | { scheme: "basic" };

const MAX_HEADER = 4096;
const PARAM = /([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|$)/gy;

export function parseChallenge(header: string | null): Challenge | null {
  if (!header || header.length > MAX_HEADER) return null;
  const m = /^\s*([A-Za-z]+)(?:\s+(.*))?$/s.exec(header);
  if (!m) return null;
  const scheme = m[1]!.toLowerCase();
  if (scheme === "basic") return { scheme: "basic" };
  if (scheme !== "bearer") return null;
  const params: Record<string, string> = {};
  const rest = (m[2] ?? "").trim();
  PARAM.lastIndex = 0;
  while (PARAM.lastIndex < rest.length) {
    const p = PARAM.exec(rest);
    if (!p) return null;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  }
  const realm = params.realm;
  if (!realm) return null;
  try {
    const u = new URL(realm);
    if (u.protocol !== "http:" && u.protocol !== "https:") return null;
  } catch {
    return null;
  }
  return { scheme: "bearer", realm, ...(params.service ? { service: params.service } : {}), ...(params.scope ? { scope: params.scope } : {}) };
}
