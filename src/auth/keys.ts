/**
 * WebCrypto keys imported once per secret instead of once per JWT: jose imports a raw Uint8Array
 * key for every verify, which cost the job pipeline's hot path an import per token it checked
 * (minting and sealing do not use WebCrypto: src/auth/compact.ts). The keys are non-extractable;
 * only a handful of secrets exist per process (its auth secret), and a process that is handed more
 * (tests) starts over past `MAX_KEYS` rather than keep them all.
 */
const MAX_KEYS = 32;
const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** The HS256 key of a shared secret (the text's UTF-8 bytes, as jose takes a Uint8Array), for signing and verifying. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let k = hmacKeys.get(secret);
  if (!k) {
    if (hmacKeys.size >= MAX_KEYS) hmacKeys.clear();
    k = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    hmacKeys.set(secret, k);
    k.catch(() => hmacKeys.delete(secret));
  }
  return k;
}
