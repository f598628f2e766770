import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford base32, lower case

function encodeTime(ms: number, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const b of bytes) out += ALPHABET[b % 32];
  return out;
}

/** Time-sortable id (ULID-like, lower case, NATS-subject safe): `j-<10 time><12 random>`. */
export function newJobId(now = Date.now()): string {
  return `j-${encodeTime(now, 10)}${encodeRandom(12)}`;
}

/** Characters allowed in a job id: it is used as a NATS KV key, a subject token and a file name. */
export const JOB_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,79}$/;

export function isJobId(s: string): boolean {
  return JOB_ID_PATTERN.test(s);
}

/** A token id (`jti`): `t-<10 time><16 random>`, a NATS KV key of the token ledger. */
export function newTokenId(now = Date.now()): string {
  return `t-${encodeTime(now, 10)}${encodeRandom(16)}`;
}

export const TOKEN_ID_PATTERN = /^t-[a-z0-9]{26}$/;
