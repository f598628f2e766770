/**
 * A job's registry credential: a short-lived HS256 JWT (jose) naming one job attempt and the job's
 * organisation. The control plane mints it in the secrets handout (src/control/handout.ts), which has
 * just checked the lease; the agent writes it into the job's Docker `config.json` as the password,
 * and the registry's token endpoint (src/registry/auth/) turns it into registry tokens with pull and
 * push on `ORG/...` — what a member of the org has. A distinct audience keeps it from passing as a
 * Nimbus token, a log credential or a registry token, and keeps those from passing as it.
 */
import { jwtVerify, errors as joseErrors } from "jose";
import { signHs256 } from "./compact.ts";
import { hmacKey } from "./keys.ts";
import { AppError } from "../core/errors.ts";
import { isJobId } from "../core/ids.ts";
import { isOrgId } from "./principal.ts";

const ISSUER = "nimbus";
export const REGISTRY_CREDENTIAL_AUDIENCE = "nimbus-registry-credential";
/** Past the job's timeout, how long its credential still works (a push finishing as the job ends). */
export const REGISTRY_CREDENTIAL_GRACE_SECONDS = 600;
/** The user name the agent puts beside the credential in `config.json` (any name is accepted). */
export const REGISTRY_CREDENTIAL_USER = "nimbus-job";

export interface RegistryCredential {
  jobId: string;
  attempt: number;
  org: string;
  /** Seconds since epoch. */
  exp: number;
}


export function registryCredentialTtl(timeoutSeconds: number): number {
  return timeoutSeconds + REGISTRY_CREDENTIAL_GRACE_SECONDS;
}

export async function mintRegistryCredential(secret: string, c: Omit<RegistryCredential, "exp"> & { ttlSeconds: number }): Promise<string> {
  if (!isJobId(c.jobId) || !Number.isInteger(c.attempt) || c.attempt < 1 || !isOrgId(c.org) || !Number.isInteger(c.ttlSeconds) || c.ttlSeconds < 1)
    throw new AppError("validation_failed", "a registry credential names a job id, an attempt, an organisation and a lifetime");
  const now = Math.floor(Date.now() / 1000);
  return signHs256(secret, { job: c.jobId, att: c.attempt, org: c.org, iss: ISSUER, aud: REGISTRY_CREDENTIAL_AUDIENCE, sub: `job:${c.jobId}`, iat: now, exp: now + c.ttlSeconds });
}

/** Verify a credential; every failure is `unauthorized` (it is presented as a password). */
export async function verifyRegistryCredential(secret: string, token: string | null | undefined): Promise<RegistryCredential> {
  if (!token) throw new AppError("unauthorized", "missing registry credential");
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, await hmacKey(secret), { issuer: ISSUER, audience: REGISTRY_CREDENTIAL_AUDIENCE, algorithms: ["HS256"], requiredClaims: ["sub", "exp"] }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new AppError("unauthorized", "the registry credential expired", { reason: "expired" });
    throw new AppError("unauthorized", "the registry credential is not valid", { reason: "invalid" });
  }
  const { job, att, org } = payload;
  if (typeof job !== "string" || !isJobId(job) || typeof att !== "number" || !Number.isInteger(att) || !isOrgId(org))
    throw new AppError("unauthorized", "the registry credential names no job attempt", { reason: "invalid" });
  return { jobId: job, attempt: att, org, exp: Number(payload.exp) };
}

/** A Docker `config.json` holding the credential for `host` (HOST:PORT as the job reaches the registry). */
export function dockerConfigJson(host: string, credential: string): string {
  const auth = Buffer.from(`${REGISTRY_CREDENTIAL_USER}:${credential}`).toString("base64");
  return JSON.stringify({ auths: { [host]: { auth } } });
}
