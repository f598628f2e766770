/**
 * A GitHub job log as `GET /repos/{owner}/{repo}/actions/jobs/{id}/logs` serves it: one line per
 * output line, each after the time GitHub stamped it (`2026-12-03T10:00:00.1234567Z text`), with the
 * runner's `##[group]Run …` headers naming the steps. Parsed into log lines for the log service
 * (attempt 0 of the job: the workflow's own output, beside the runner process's output of attempts 1+).
 */
import type { LogLine } from "../protocol/log-batch.ts";

export const MAX_LINE = 65_536;
const STAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z ?/;

/** Lines of the text; a line without a stamp takes the one before it (or `fallbackTs`). */
export function parseJobLog(text: string, fallbackTs: number, maxLines = 200_000): LogLine[] {
  const out: LogLine[] = [];
  let ts = fallbackTs;
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const raw = body.split(/\r?\n/);
  if (raw.length && raw[raw.length - 1] === "") raw.pop();
  for (const line of raw) {
    if (out.length >= maxLines) break;
    const m = STAMP.exec(line);
    let rest = line;
    if (m) {
      const t = Date.parse(`${m[1]}${(m[2] ?? "").slice(0, 4)}Z`);
      if (!Number.isNaN(t)) ts = t;
      rest = line.slice(m[0].length);
    }
    out.push({ n: out.length, ts, stream: "out", text: rest.length > MAX_LINE ? rest.slice(0, MAX_LINE) : rest });
  }
  return out;
}
