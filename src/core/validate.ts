/** Validate untrusted input with a valibot schema; the first problem becomes a 422 naming its field. */
import * as v from "valibot";
import { AppError } from "./errors.ts";

export function parseInput<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const issue = result.issues[0]!;
  const path = v.getDotPath(issue) ?? "(body)";
  throw new AppError("validation_failed", `${path}: ${issue.message}`, { field: path });
}
