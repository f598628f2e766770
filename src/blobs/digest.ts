/**
 * Content digests: `sha256:<64 hex>`, the one algorithm the blob store addresses by. Pure: no I/O.
 * Anything else is refused before it can become a path.
 */
export type Digest = `sha256:${string}`;

const SHA256 = /^sha256:[a-f0-9]{64}$/;
/** The OCI grammar for any digest (`algorithm:encoded`), to tell "malformed" from "unsupported". */
const ANY = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export type DigestProblem = "malformed" | "unsupported";

/** The digest, or why it is not one the store can address. */
export function checkDigest(s: string): Digest | DigestProblem {
  if (SHA256.test(s)) return s as Digest;
  return ANY.test(s) && !s.startsWith("sha256:") ? "unsupported" : "malformed";
}

export function isDigest(s: string): s is Digest {
  return SHA256.test(s);
}

export function hexOf(d: Digest): string {
  return d.slice("sha256:".length);
}

export function digestOf(bytes: Uint8Array | string): Digest {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}
