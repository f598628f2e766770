/**
 * Sealed job secrets: a job's secret values (and its cache runtime token) encrypted at submit with
 * a key only the control plane holds (JWE, `dir` + A256GCM), bound to the job: the job id is in the
 * integrity-protected header and in the payload, so a sealed blob copied into another job's record
 * does not open for that job.
 */
import { openDirA256Gcm, sealDirA256Gcm } from "./compact.ts";
import { AppError } from "../core/errors.ts";

export interface SealedPayload {
  /** Secret environment values, by name. */
  secrets: Record<string, string>;
  /** The job's Actions cache runtime token, when it has a cache. */
  cacheToken?: string;
}

const HEADER_JOB = "nimbus_job";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** The key from its setting's text: 32 bytes, base64url (43 characters; `nimbus up` generates one). */
export function secretsKey(text: string): Uint8Array {
  const bytes = Buffer.from(text.trim(), "base64url");
  if (bytes.length !== 32 || bytes.toString("base64url") !== text.trim())
    throw new AppError("validation_failed", "must be 32 random bytes, base64url-encoded (43 characters)");
  return new Uint8Array(bytes);
}

export function isSecretsKey(text: string): boolean {
  try {
    secretsKey(text);
    return true;
  } catch {
    return false;
  }
}

export async function sealJobSecrets(key: Uint8Array, jobId: string, payload: SealedPayload): Promise<string> {
  return sealDirA256Gcm(key, { [HEADER_JOB]: jobId }, enc.encode(JSON.stringify({ jobId, ...payload })));
}

/** Open a job's sealed secrets; `forbidden` when the blob is not this job's or does not open with this key. */
export async function openJobSecrets(key: Uint8Array, jobId: string, sealed: string): Promise<SealedPayload> {
  let opened: { jobId?: unknown } & SealedPayload;
  try {
    const { plaintext, header } = openDirA256Gcm(key, sealed);
    if (header[HEADER_JOB] !== jobId) throw new Error("bound to another job");
    opened = JSON.parse(dec.decode(plaintext));
  } catch {
    throw new AppError("forbidden", `the sealed secrets of job ${jobId} do not open for it`, { jobId });
  }
  if (opened.jobId !== jobId) throw new AppError("forbidden", `the sealed secrets of job ${jobId} do not open for it`, { jobId });
  return { secrets: opened.secrets ?? {}, ...(opened.cacheToken ? { cacheToken: opened.cacheToken } : {}) };
}
