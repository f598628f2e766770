/**
 * The tracing settings every service shares (OTLP/HTTP export of job traces). Empty endpoint: tracing
 * is off and costs nothing (no exporter, no trace on job records, no TRACEPARENT for jobs).
 */
import * as v from "valibot";
import { url, type Setting } from "../config/settings.ts";

/** `KEY=VALUE,KEY2=VALUE2` (values may be percent-encoded, as OTEL_EXPORTER_OTLP_HEADERS): the headers, or the problem. */
export function parseOtlpHeaders(s: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  const entries = s.split(",").map((x) => x.trim());
  if (s.trim() === "") return out;
  for (const [i, entry] of entries.entries()) {
    const eq = entry.indexOf("=");
    // The entry is never quoted back: it may hold a credential.
    if (eq <= 0) return `entry ${i + 1} is not NAME=VALUE`;
    const name = entry.slice(0, eq).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return `entry ${i + 1} has a name that is not an HTTP header name`;
    let value: string;
    try {
      value = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      return `the value of header ${name} is not valid percent-encoding`;
    }
    if (/[\r\n\0]/.test(value)) return `the value of header ${name} holds a line break or NUL`;
    out[name] = value;
  }
  return out;
}

const headers = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const r = parseOtlpHeaders(dataset.value);
    if (typeof r === "string") {
      addIssue({ message: `must be NAME=VALUE pairs separated by commas: ${r}` });
      return NEVER;
    }
    return r;
  }),
) as v.GenericSchema<string, Record<string, string>>;

const ratio = v.pipe(
  v.string(),
  v.regex(/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/, "must be a number from 0 to 1"),
  v.transform(Number),
  v.number(),
  v.minValue(0, "must be at least 0"),
  v.maxValue(1, "must be at most 1"),
) as v.GenericSchema<string, number>;

export const otelSettings = {
  otelEndpoint: {
    env: "NIMBUS_OTEL_EXPORTER_ENDPOINT",
    doc: "Base URL of an OTLP/HTTP receiver (a collector, Jaeger, Tempo...) that job traces are exported to, as protobuf, at `<url>/v1/traces`. Empty: tracing off.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  } satisfies Setting<string>,
  otelHeaders: {
    env: "NIMBUS_OTEL_EXPORTER_HEADERS",
    doc: "Headers sent with every export, `NAME=VALUE` pairs separated by commas (e.g. `Authorization=Bearer x`; values may be percent-encoded).",
    schema: headers,
    default: "",
    secret: true,
  } satisfies Setting<Record<string, string>>,
  otelSamplerRatio: {
    env: "NIMBUS_OTEL_SAMPLER_RATIO",
    doc: "Share of jobs traced, 0 to 1. Decided once, when the job is created (the control plane), and carried in its traceparent: every process follows that decision.",
    schema: ratio,
    default: "1",
  } satisfies Setting<number>,
};

export interface OtelConfig {
  otelEndpoint: string;
  otelHeaders: Record<string, string>;
  otelSamplerRatio: number;
}
