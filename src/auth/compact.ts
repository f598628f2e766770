/**
 * The two compact JOSE forms Nimbus mints on its hot paths, made with node:crypto in one synchronous
 * call each: an HS256 JWS (RFC 7515 §3.1, the JWTs every token, credential and runtime token is) and
 * a `dir` + A256GCM JWE (RFC 7516 §3.1, sealed secrets and sealed handout answers). jose makes the
 * same strings through WebCrypto, whose every call is a promise and a job on another thread; per
 * job handout that cost more than the rest of the handout's work (the pipeline benchmark's CPU
 * profile). Verification stays with jose (`jwtVerify`, `compactDecrypt`): the tests check that jose
 * opens what is made here and that this module opens what jose makes, byte for byte the same forms.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

const b64 = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");
const JWT_HEADER = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));

/** An HS256 JWT of `claims`, keyed by the secret's UTF-8 bytes (as jose is given them); header `{"alg":"HS256","typ":"JWT"}`. */
export function signHs256(secret: string | Uint8Array, claims: Record<string, unknown>): string {
  const input = `${JWT_HEADER}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

function aesKey(key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new Error("an A256GCM key is 32 bytes");
  return key;
}

/** A compact JWE with `alg: dir`, `enc: A256GCM` and `header`'s other members in its protected header; a fresh 96-bit IV. */
export function sealDirA256Gcm(key: Uint8Array, header: Record<string, unknown>, plaintext: Uint8Array): string {
  const protectedHeader = b64(JSON.stringify({ alg: "dir", enc: "A256GCM", ...header }));
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", aesKey(key), iv);
  c.setAAD(Buffer.from(protectedHeader, "ascii"));
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return `${protectedHeader}..${b64(iv)}.${b64(ciphertext)}.${b64(c.getAuthTag())}`;
}

const PART = /^[A-Za-z0-9_-]*$/;

/** Open a `dir` + A256GCM compact JWE; anything else (another form, algorithm, key, a changed byte) throws. */
export function openDirA256Gcm(key: Uint8Array, jwe: string): { plaintext: Uint8Array; header: Record<string, unknown> } {
  const parts = jwe.split(".");
  if (parts.length !== 5 || !parts.every((p) => PART.test(p))) throw new Error("not a compact JWE");
  const [h, encryptedKey, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
  } catch {
    throw new Error("the JWE header is not JSON");
  }
  if (!header || typeof header !== "object" || header.alg !== "dir" || header.enc !== "A256GCM") throw new Error("not a dir/A256GCM JWE");
  if (encryptedKey !== "" || "zip" in header || "crit" in header) throw new Error("unsupported JWE members");
  const ivBytes = Buffer.from(iv, "base64url");
  const tagBytes = Buffer.from(tag, "base64url");
  if (ivBytes.length !== 12 || tagBytes.length !== 16) throw new Error("bad JWE IV or tag length");
  const d = createDecipheriv("aes-256-gcm", aesKey(key), ivBytes, { authTagLength: 16 });
  d.setAAD(Buffer.from(h, "ascii"));
  d.setAuthTag(tagBytes);
  const plaintext = Buffer.concat([d.update(Buffer.from(ciphertext, "base64url")), d.final()]);
  return { plaintext: new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.length), header };
}
