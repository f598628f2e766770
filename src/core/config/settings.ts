/**
 * A setting is one environment variable (also accepted under the same name in a config file),
 * a valibot schema that turns its text into a typed value, a default, and a line of documentation.
 */
import * as v from "valibot";

export interface Setting<T> {
  env: string;
  doc: string;
  schema: v.GenericSchema<string, T>;
  /** Text default, parsed by the schema like any other value; absent means required. */
  default?: string;
  /** How the docs show a default that depends on the machine (e.g. "number of CPUs"). */
  defaultDoc?: string;
  secret?: boolean;
}

export type SettingsSpec = Record<string, Setting<any>>;
export type ConfigOf<S extends SettingsSpec> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export const str = (opts: { min?: number } = {}) =>
  v.pipe(v.string(), v.minLength(opts.min ?? 1, "must not be empty")) as v.GenericSchema<string, string>;

export const optionalStr = () => v.string() as v.GenericSchema<string, string>;

export const int = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^-?\d+$/, "must be a whole number"),
    v.transform(Number),
    v.number(),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  ) as v.GenericSchema<string, number>;

export const port = () => int(1, 65535);

export const bool = () =>
  v.pipe(
    v.string(),
    v.picklist(["true", "false", "1", "0", "yes", "no"], "must be true or false"),
    v.transform((s) => s === "true" || s === "1" || s === "yes"),
  ) as v.GenericSchema<string, boolean>;

export const list = () =>
  v.pipe(
    v.string(),
    v.transform((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  ) as v.GenericSchema<string, string[]>;

export const url = (protocols: string[]) =>
  v.pipe(
    v.string(),
    v.check((s) => {
      try {
        return protocols.includes(new URL(s).protocol.replace(/:$/, ""));
      } catch {
        return false;
      }
    }, `must be a ${protocols.join(" or ")} URL`),
  ) as v.GenericSchema<string, string>;

export const oneOf = <T extends string>(values: readonly T[]) =>
  v.pipe(v.string(), v.picklist(values as T[], `must be one of ${values.join(", ")}`)) as v.GenericSchema<string, T>;

export const secret = (minLength = 16) =>
  v.pipe(v.string(), v.minLength(minLength, `must be at least ${minLength} characters`)) as v.GenericSchema<string, string>;
