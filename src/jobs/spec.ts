/** A directly submitted job, as the API accepts it. Validated once here; errors name the field. */
import * as v from "valibot";
import { parseInput } from "../core/validate.ts";
import { isOrgId } from "../auth/principal.ts";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envMap = (what: string) =>
  v.pipe(
    v.record(v.pipe(v.string(), v.regex(ENV_NAME, `${what} names must match ${ENV_NAME.source}`), v.maxLength(128)), v.pipe(v.string(), v.maxLength(32_768))),
    v.check((m) => Object.keys(m).length <= 256, `at most 256 ${what} entries`),
  );

export const JobSpecSchema = v.strictObject({
  name: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
  /** The organisation the job belongs to: operators only (default `default`); others may name only their own. */
  org: v.optional(v.pipe(v.string(), v.check((s: string) => isOrgId(s), "must be an organisation id: lower-case letters, digits and dashes, up to 64"))),
  command: v.pipe(
    v.array(v.pipe(v.string(), v.maxLength(65_536))),
    v.minLength(1, "must hold the program and its arguments"),
    v.maxLength(1024),
    v.check((a) => a[0] !== "", "program must not be empty"),
  ),
  env: v.optional(envMap("env"), {}),
  secrets: v.optional(envMap("secret"), {}),
  labels: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(200))), v.maxLength(32)), ["nimbus"]),
  timeoutSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(86_400)), 3600),
  /** Which Actions cache the job reads and writes (default: repository `direct/<submitter>`, ref refs/heads/main). */
  cache: v.optional(
    v.strictObject({
      repo: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, "must be OWNER/NAME")),
      ref: v.optional(v.pipe(v.string(), v.regex(/^refs\/(heads|tags|pull)\/[A-Za-z0-9_./-]{1,200}$/, "must be a full git ref such as refs/heads/main")), "refs/heads/main"),
    }),
  ),
  idempotencyKey: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,128}$/, "must be 1-128 of A-Z a-z 0-9 . _ : -"))),
});

export type JobSpec = v.InferOutput<typeof JobSpecSchema>;

export function parseJobSpec(body: unknown): JobSpec {
  return parseInput(JobSpecSchema, body);
}
