/**
 * The distribution API's URL shapes, parsed from a path. Pure. Each segment is percent-decoded on
 * its own (a decoded `/` is refused), then the name and reference go through the grammar, so no
 * path component that reaches the stores can be `..`, empty or hidden.
 */
import { fail } from "../errors.ts";

export type Route =
  | { kind: "base" }
  | { kind: "tags"; name: string }
  | { kind: "manifest"; name: string; ref: string }
  | { kind: "uploads"; name: string }
  | { kind: "upload"; name: string; id: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "referrers"; name: string; digest: string };

function decode(seg: string): string {
  let s: string;
  try {
    s = decodeURIComponent(seg);
  } catch {
    throw fail.nameInvalid("invalid percent-encoding in the path");
  }
  if (s.includes("/") || s.includes("\\") || s.includes("\0")) throw fail.nameInvalid("encoded separator in the path");
  return s;
}

/** The route of a `/v2/...` path, or null for a path of no known shape. */
export function route(pathname: string): Route | null {
  if (pathname === "/v2" || pathname === "/v2/") return { kind: "base" };
  if (!pathname.startsWith("/v2/")) return null;
  const raw = pathname.slice(4).split("/");
  const trailingSlash = raw[raw.length - 1] === "";
  const seg = (trailingSlash ? raw.slice(0, -1) : raw).map(decode);
  const n = seg.length;
  const name = (k: number) => seg.slice(0, n - k).join("/");
  const at = (i: number) => seg[n - i];
  if (n >= 3 && at(2) === "blobs" && at(1) === "uploads" && trailingSlash) return { kind: "uploads", name: name(2) };
  if (trailingSlash) return null;
  if (n >= 3 && at(2) === "tags" && at(1) === "list") return { kind: "tags", name: name(2) };
  if (n >= 3 && at(2) === "blobs" && at(1) === "uploads") return { kind: "uploads", name: name(2) };
  if (n >= 4 && at(3) === "blobs" && at(2) === "uploads") return { kind: "upload", name: name(3), id: at(1)! };
  if (n >= 3 && at(2) === "manifests") return { kind: "manifest", name: name(2), ref: at(1)! };
  if (n >= 3 && at(2) === "blobs") return { kind: "blob", name: name(2), digest: at(1)! };
  if (n >= 3 && at(2) === "referrers") return { kind: "referrers", name: name(2), digest: at(1)! };
  return null;
}
