/**
 * Structured logs, one JSON object per line on stderr. Values of keys that look secret and any
 * registered secret string are replaced by "[redacted]" before anything is written. Values
 * that came from a request are logged as bounded summaries (`boundedList`, `boundedText`); as a
 * last resort every field is capped at FIELD_MAX_CHARS, so no line grows with its input.
 */
type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /(secret|token|password|authorization|private_?key)/i;

const secrets = new Set<string>();

/** Register a secret value so it never appears in any log line or error text. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) secrets.add(value);
}

export function redactText(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("[redacted]");
  return out;
}

/** A field's serialised size past which it is cut (a log line stays a few KB whatever the input). */
export const FIELD_MAX_CHARS = 1024;

/** A string from input, cut to `max` characters with the original length noted. */
export function boundedText(s: string, max = 100): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length} chars)`;
}

/** A list from input as a bounded summary: how many, and the first few, each cut. */
export function boundedList(values: readonly unknown[], first = 5, max = 100): { count: number; first: string[] } {
  return { count: values.length, first: values.slice(0, first).map((v) => boundedText(String(v), max)) };
}

function capField(value: unknown): unknown {
  if (value === undefined || value === null || typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "string") return boundedText(value, FIELD_MAX_CHARS);
  if (Array.isArray(value) && value.length > 5) return boundedList(value);
  const json = JSON.stringify(value) ?? "";
  return json.length <= FIELD_MAX_CHARS ? value : boundedText(json, FIELD_MAX_CHARS);
}

function redactValue(key: string, value: unknown): unknown {
  if (SECRET_KEY.test(key) && value !== undefined && value !== null && value !== "") return "[redacted]";
  if (typeof value === "string") return capField(redactText(value));
  if (value instanceof Error) return capField(redactText(value.message));
  return capField(value);
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(component: string, base: Record<string, unknown> = {}): Logger {
  const min = ORDER[(process.env.NIMBUS_LOG_LEVEL as Level) ?? "info"] ?? ORDER.info;
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const line: Record<string, unknown> = { t: new Date().toISOString(), level, component, msg: boundedText(redactText(msg), FIELD_MAX_CHARS) };
    for (const [k, v] of Object.entries({ ...base, ...fields })) line[k] = redactValue(k, v);
    process.stderr.write(JSON.stringify(line) + "\n");
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(component, { ...base, ...fields }),
  };
}
