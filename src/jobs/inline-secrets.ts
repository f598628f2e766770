/**
 * A secret typed into the command line or into an env value would be stored and shown in plaintext
 * (the command and env are part of the job record the API returns): such a submission is refused,
 * naming the secret (never its value).
 */
import { AppError } from "../core/errors.ts";
import type { JobSpec } from "./spec.ts";

/** Values shorter than this are not searched for (too many false alarms; the log masking skips them too). */
export const MIN_SECRET_LENGTH = 3;

export function refuseInlineSecrets(spec: Pick<JobSpec, "command" | "env" | "secrets">): void {
  for (const [name, value] of Object.entries(spec.secrets)) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    const where = spec.command.some((a) => a.includes(value)) ? "the command" : Object.entries(spec.env).find(([, v]) => v.includes(value))?.[0];
    if (!where) continue;
    const place = where === "the command" ? where : `env ${where}`;
    throw new AppError(
      "validation_failed",
      `the value of secret ${name} appears in ${place}, which is stored and shown in plaintext: ` +
        `pass it only with \`nimbus run --secret ${name}\`, which takes the value from your environment variable ${name}, ` +
        `and refer to it in the command as $${name}`,
      { field: where === "the command" ? "command" : `env.${where}`, secret: name },
    );
  }
}
