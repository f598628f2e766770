/**
 * Which organisation a job belongs to (the record's `org` is the single source; events copy it).
 * Direct jobs: the submitting token's org, or for an operator the one the spec names (default
 * DEFAULT_ORG). GitHub jobs: the account the App is installed on, its login lower-cased; a login
 * that is not a valid org id (src/auth/principal.ts) is mapped deterministically by `orgOfLogin`.
 */
import { createHash } from "node:crypto";
import { AppError } from "../core/errors.ts";
import { ORG_ID_PATTERN, type Principal } from "../auth/principal.ts";
import type { JobRecord } from "./record.ts";

/** The platform org: an operator's jobs that name none, and records written before jobs had an org. */
export const DEFAULT_ORG = "default";

/** A record's org; one written before records carried it belongs to DEFAULT_ORG. */
export function orgOf(job: Pick<JobRecord, "org">): string {
  return (job.org as string | undefined) ?? DEFAULT_ORG;
}

/**
 * The org id of a GitHub account login: lower-cased when that is a valid org id (every login
 * GitHub hands out today is); otherwise a readable prefix, "--" and a digest of the whole login.
 * GitHub logins never hold "--", so a mapped id cannot be a real account's.
 */
export function orgOfLogin(login: string): string {
  const lower = login.toLowerCase();
  if (ORG_ID_PATTERN.test(lower)) return lower;
  const digest = createHash("sha256").update(login).digest("hex").slice(0, 16);
  const prefix = lower.replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
  return `${prefix || "org"}--${digest}`;
}

/** The org a direct submission goes to: the caller's own; an operator may name one (default DEFAULT_ORG). */
export function submissionOrg(p: Pick<Principal, "role" | "org">, asked: string | undefined): string {
  if (p.role === "operator") return asked ?? DEFAULT_ORG;
  if (asked !== undefined && asked !== p.org) throw new AppError("forbidden", `a ${p.role} token submits only to its organisation ${p.org}`, { field: "org" });
  if (!p.org) throw new AppError("forbidden", `a ${p.role} token belongs to no organisation`);
  return p.org;
}
