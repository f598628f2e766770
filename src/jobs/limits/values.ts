/**
 * Per-organisation limits as values: what an org may run at once, submit per window, and keep in
 * the cache and the registry. Defaults come from settings (./config.ts); an operator's override
 * for one org names only the fields it changes. Pure: no I/O.
 */
import { AppError } from "../../core/errors.ts";

export interface OrgLimits {
  /** Jobs running at once, across every agent (0: no limit). */
  running: number;
  /** Submissions (direct and GitHub) per window. */
  submissions: number;
  windowMs: number;
  /** Actions cache bytes (0: no quota); enforced by the cache service. */
  cacheBytes: number;
  /** Registry bytes (0: no quota). */
  registryBytes: number;
}

export type LimitField = keyof OrgLimits;
export type LimitsOverride = Partial<OrgLimits>;

/** Each field's bounds (the same as its default's setting). */
export const LIMIT_BOUNDS: Record<LimitField, { min: number; max: number }> = {
  running: { min: 0, max: 1_000_000 },
  submissions: { min: 1, max: 10_000_000 },
  windowMs: { min: 1000, max: 3_600_000 },
  cacheBytes: { min: 0, max: Number.MAX_SAFE_INTEGER },
  registryBytes: { min: 0, max: Number.MAX_SAFE_INTEGER },
};
export const LIMIT_FIELDS = Object.keys(LIMIT_BOUNDS) as LimitField[];

export function defaultLimits(c: { orgMaxRunning: number; orgSubmissionsPerWindow: number; orgWindowMs: number; orgCacheQuotaBytes: number; orgRegistryQuotaBytes: number }): OrgLimits {
  return { running: c.orgMaxRunning, submissions: c.orgSubmissionsPerWindow, windowMs: c.orgWindowMs, cacheBytes: c.orgCacheQuotaBytes, registryBytes: c.orgRegistryQuotaBytes };
}

export function effectiveLimits(defaults: OrgLimits, override: LimitsOverride | undefined): OrgLimits {
  return { ...defaults, ...override };
}

/**
 * A change to an org's override, from a request body: each field a whole number in its bounds,
 * or null to return it to the default. Unknown fields are refused (a typo must not pass silently).
 */
export function parseLimitsPatch(raw: unknown): Record<LimitField, number | null | undefined> {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new AppError("validation_failed", "limits: expected a JSON object of fields");
  const out = {} as Record<LimitField, number | null | undefined>;
  for (const [k, v] of Object.entries(raw)) {
    if (!LIMIT_FIELDS.includes(k as LimitField)) throw new AppError("validation_failed", `${k}: not a limit (one of ${LIMIT_FIELDS.join(", ")})`, { field: k });
    const f = k as LimitField;
    const b = LIMIT_BOUNDS[f];
    if (v !== null && !(Number.isSafeInteger(v) && (v as number) >= b.min && (v as number) <= b.max))
      throw new AppError("validation_failed", `${f}: must be a whole number from ${b.min} to ${b.max}, or null for the default`, { field: f });
    out[f] = v as number | null;
  }
  if (Object.keys(out).length === 0) throw new AppError("validation_failed", `limits: name at least one of ${LIMIT_FIELDS.join(", ")}`);
  return out;
}

/** Apply a patch to an override: null fields go back to the default. */
export function applyPatch(cur: LimitsOverride, patch: Record<LimitField, number | null | undefined>): LimitsOverride {
  const next: LimitsOverride = { ...cur };
  for (const f of LIMIT_FIELDS) {
    if (patch[f] === null) delete next[f];
    else if (patch[f] !== undefined) next[f] = patch[f]!;
  }
  return next;
}
