/**
 * The admin routes' input, validated with valibot before anything is read: the query as an object
 * (a repeated or unknown parameter is refused, so a typo never widens a listing or a delete), the
 * query's length bounded, and no body at all. Errors are 400/422 naming the parameter.
 */
import * as v from "valibot";
import { AppError } from "../../core/errors.ts";
import { parseInput } from "../../core/validate.ts";
import { isOrgId } from "../../auth/principal.ts";
import { isTag, MAX_NAME_LENGTH, parseName } from "../names.ts";

export const MAX_QUERY_BYTES = 2048;

const org = v.pipe(v.string(), v.check((s: string) => isOrgId(s), "must be an organisation id: lower-case letters, digits and dashes, up to 64"));
const repo = v.pipe(
  v.string(),
  v.maxLength(MAX_NAME_LENGTH, `must be at most ${MAX_NAME_LENGTH} characters`),
  v.check((s: string) => {
    try {
      parseName(s);
      return true;
    } catch {
      return false;
    }
  }, "must be a repository name ORG/NAME (lower-case letters, digits, separators . _ __ -, components split by /)"),
);
const tag = v.pipe(v.string(), v.check(isTag, "must be a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"));
const limit = v.pipe(v.string(), v.regex(/^\d{1,5}$/, "must be a whole number from 1 to 10000"), v.transform(Number), v.minValue(1, "must be at least 1"), v.maxValue(10_000, "must be at most 10000"));

export const ListQuery = v.strictObject({ org: v.optional(org), limit: v.optional(limit) });
export const RepoQuery = v.strictObject({ repo });
export const UsageQuery = v.strictObject({ org: v.optional(org) });
export const TagQuery = v.strictObject({ repo, tag });
/** What a required parameter holds, for the message when it is missing. */
const HINT: Record<string, string> = { repo: "ORG/NAME", tag: "the tag" };

type Query = v.StrictObjectSchema<v.ObjectEntries, undefined>;

/** The request's query, one value per parameter, checked by `schema`; no body is taken. */
export function queryOf<S extends Query>(request: Request, schema: S): v.InferOutput<S> {
  const url = new URL(request.url);
  if (url.search.length > MAX_QUERY_BYTES) throw new AppError("bad_request", `the query is over ${MAX_QUERY_BYTES} characters`, { limit: MAX_QUERY_BYTES });
  const len = request.headers.get("content-length");
  if ((len !== null && len !== "0") || request.headers.has("transfer-encoding")) throw new AppError("bad_request", "this route takes no request body");
  const q: Record<string, string> = {};
  for (const [k, value] of url.searchParams) {
    if (k in q) throw new AppError("validation_failed", `${k.slice(0, 40)}: given more than once`, { field: k.slice(0, 40) });
    if (!(k in schema.entries)) throw new AppError("validation_failed", `${k.slice(0, 40)}: not a parameter of this route (it takes ${Object.keys(schema.entries).join(", ")})`, { field: k.slice(0, 40) });
    q[k] = value;
  }
  for (const [k, entry] of Object.entries(schema.entries))
    if (entry.type !== "optional" && !(k in q)) throw new AppError("validation_failed", `${k}: is required${HINT[k] ? ` (${HINT[k]})` : ""}`, { field: k });
  return parseInput(schema, q);
}
