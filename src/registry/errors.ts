/**
 * The distribution spec's error codes and their JSON shape: `{"errors":[{code,message,detail}]}`.
 * Every failure the registry answers is a RegistryError; callers branch on `code`.
 */
import { isAppError } from "../core/errors.ts";
import { isBlobError } from "../blobs/errors.ts";

const OCI_CODE_LIST = [
  "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED",
  "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS", "RANGE_INVALID",
  // Not in the OCI list: the distribution registry's code for 502/503 (the mirror's upstream is down).
  "UNAVAILABLE",
] as const;
export type OciCode = (typeof OCI_CODE_LIST)[number];
const OCI_CODES: ReadonlySet<string> = new Set(OCI_CODE_LIST);

export class RegistryError extends Error {
  constructor(
    readonly code: OciCode,
    readonly status: number,
    message: string,
    readonly detail?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

export const fail = {
  nameInvalid: (m: string) => new RegistryError("NAME_INVALID", 400, m),
  nameUnknown: (name: string) => new RegistryError("NAME_UNKNOWN", 404, `repository ${name} not known to the registry`),
  blobUnknown: (d: string) => new RegistryError("BLOB_UNKNOWN", 404, `blob ${d} unknown to the repository`),
  manifestUnknown: (ref: string) => new RegistryError("MANIFEST_UNKNOWN", 404, `manifest ${ref} unknown to the repository`),
  uploadUnknown: () => new RegistryError("BLOB_UPLOAD_UNKNOWN", 404, "upload unknown to the registry"),
  digestInvalid: (m: string, detail?: unknown) => new RegistryError("DIGEST_INVALID", 400, m, detail),
  manifestInvalid: (m: string) => new RegistryError("MANIFEST_INVALID", 400, m),
  unsupported: (m: string, status = 400) => new RegistryError("UNSUPPORTED", status, m),
};

/** The error JSON body of the spec. */
export function errorJson(e: RegistryError): string {
  const entry: Record<string, unknown> = { code: e.code, message: e.message };
  if (e.detail !== undefined) entry.detail = e.detail;
  return JSON.stringify({ errors: [entry] });
}

/**
 * Any error as a RegistryError: auth errors (AppError) keep the spec code the access check put in
 * `details.ociCode` and the `WWW-Authenticate` value in `details.challenge`; without them
 * unauthorized/forbidden/not_found become UNAUTHORIZED/DENIED/NAME_UNKNOWN and a 401 gets
 * `challenge()`. Blob store errors become their spec codes.
 */
export function toRegistryError(e: unknown, challenge: () => string): RegistryError | null {
  if (e instanceof RegistryError) return e;
  if (isAppError(e)) {
    const code = e.details?.ociCode;
    const oci = typeof code === "string" && OCI_CODES.has(code) ? (code as OciCode) : undefined;
    const headers: Record<string, string> = {};
    if (e.status === 401) headers["www-authenticate"] = typeof e.details?.challenge === "string" ? e.details.challenge : challenge();
    if (oci) return new RegistryError(oci, e.status, e.message, undefined, headers);
    if (e.code === "unauthorized") return new RegistryError("UNAUTHORIZED", 401, e.message, undefined, headers);
    if (e.code === "forbidden") return new RegistryError("DENIED", 403, e.message);
    if (e.code === "not_found") return new RegistryError("NAME_UNKNOWN", 404, e.message);
    if (e.code === "payload_too_large") return new RegistryError("SIZE_INVALID", 413, e.message, e.details);
    if (e.code === "rate_limited") return new RegistryError("TOOMANYREQUESTS", 429, e.message);
    if (e.code === "unavailable") return new RegistryError("UNAVAILABLE", 503, e.message);
  }
  if (isBlobError(e)) {
    if (e.code === "digest_mismatch") return fail.digestInvalid(e.message, e.details);
    if (e.code === "too_large") return new RegistryError("SIZE_INVALID", 413, e.message, e.details);
    if (e.code === "short_write") return new RegistryError("SIZE_INVALID", 400, e.message);
    if (e.code === "unknown_temp" || e.code === "bad_id") return fail.uploadUnknown();
  }
  return null;
}
