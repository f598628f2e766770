/**
 * Per-attempt log credentials: a short-lived HS256 JWT (jose) naming one job, one attempt, the agent
 * holding that attempt's lease and the job's organisation. The control plane mints it in the secrets
 * handout (src/control/handout.ts), which has just checked the lease; the log service accepts a batch
 * only for the job and attempt its credential names, from the agent it names (defect 1, issue #11).
 * A distinct audience keeps it from ever passing as a Nimbus token or a cache runtime token, and
 * keeps those from passing as a credential.
 */
import { jwtVerify, errors as joseErrors } from "jose";
import { signHs256 } from "./compact.ts";
import { hmacKey } from "./keys.ts";
import { AppError } from "../core/errors.ts";
import { isJobId } from "../core/ids.ts";
import { isOrgId } from "./principal.ts";

/** A job's searchable fields (empty strings when unknown), carried in its log credentials (src/jobs/job-meta.ts says where they come from). */
export interface JobMeta {
  repo: string;
  workflow: string;
  jobName: string;
  branch: string;
}

export const NO_META: JobMeta = { repo: "", workflow: "", jobName: "", branch: "" };

const text = (v: unknown) => (typeof v === "string" ? v.slice(0, 255) : "");

const ISSUER = "nimbus";
export const LOG_CREDENTIAL_AUDIENCE = "nimbus-log-writer";
/** The header a log batch carries its credential in (the bearer is the agent's own token). */
export const LOG_CREDENTIAL_HEADER = "x-nimbus-log-credential";
/** Past the job's timeout, how long its spooled lines may still be shipped (a log-service outage, an agent restart). */
export const LOG_CREDENTIAL_GRACE_SECONDS = 6 * 3600;

export interface LogCredential {
  jobId: string;
  attempt: number;
  agentId: string;
  org: string;
  /** Seconds since epoch. */
  exp: number;
  /** The job's searchable fields, as its record named them when the credential was minted (absent in older ones). */
  meta?: JobMeta;
}


/** How long a credential for a job with this timeout lives: the run, then the grace to ship its spool. */
export function logCredentialTtl(timeoutSeconds: number): number {
  return timeoutSeconds + LOG_CREDENTIAL_GRACE_SECONDS;
}

export async function mintLogCredential(secret: string, c: Omit<LogCredential, "exp"> & { ttlSeconds: number }): Promise<string> {
  if (!isJobId(c.jobId) || !Number.isInteger(c.attempt) || c.attempt < 0 || !c.agentId || !isOrgId(c.org))
    throw new AppError("validation_failed", "a log credential names a job id, an attempt, an agent and an organisation");
  const now = Math.floor(Date.now() / 1000);
  const meta = c.meta ? { meta: { r: c.meta.repo, w: c.meta.workflow, j: c.meta.jobName, b: c.meta.branch } } : {};
  return signHs256(secret, { job: c.jobId, att: c.attempt, org: c.org, ...meta, iss: ISSUER, aud: LOG_CREDENTIAL_AUDIENCE, sub: c.agentId, iat: now, exp: now + c.ttlSeconds });
}

/** Verify a credential; every failure is `forbidden` (the agent's token was fine, this batch is not its to send). */
export async function verifyLogCredential(secret: string, token: string | null | undefined): Promise<LogCredential> {
  if (!token) throw new AppError("forbidden", `a log batch needs the attempt's log credential (${LOG_CREDENTIAL_HEADER})`, { credential: "missing" });
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, await hmacKey(secret), { issuer: ISSUER, audience: LOG_CREDENTIAL_AUDIENCE, algorithms: ["HS256"], requiredClaims: ["sub", "exp"] }));
  } catch (e) {
    if (e instanceof joseErrors.JWTExpired) throw new AppError("forbidden", "the log credential expired", { credential: "expired" });
    throw new AppError("forbidden", "the log credential is not valid", { credential: "invalid" });
  }
  const { job, att, org } = payload;
  if (typeof job !== "string" || !isJobId(job) || typeof att !== "number" || !Number.isInteger(att) || !isOrgId(org))
    throw new AppError("forbidden", "the log credential names no job attempt", { credential: "invalid" });
  const m = payload.meta as Record<string, unknown> | undefined;
  const meta = m && typeof m === "object" ? { meta: { repo: text(m.r), workflow: text(m.w), jobName: text(m.j), branch: text(m.b) } } : {};
  return { jobId: job, attempt: att, agentId: String(payload.sub), org, exp: Number(payload.exp), ...meta };
}
