/**
 * The log service's wire format: a batch as agents send it, and a line as readers (CLI, dashboard)
 * get it back. Line numbers come from the agent, so a resent batch is not stored twice.
 */
import * as v from "valibot";
import { parseInput } from "../core/validate.ts";
import { JOB_ID_PATTERN } from "../core/ids.ts";

export const LogLineSchema = v.strictObject({
  n: v.pipe(v.number(), v.integer(), v.minValue(0)),
  ts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  stream: v.picklist(["out", "err", "sys"]),
  text: v.pipe(v.string(), v.maxLength(65_536)),
});

export const LogBatchSchema = v.strictObject({
  jobId: v.pipe(v.string(), v.regex(JOB_ID_PATTERN, "is not a job id")),
  /** 1 and up: the job's runs on agents; 0: the workflow's own log as GitHub serves it (src/github/job-log-sync.ts). */
  attempt: v.pipe(v.number(), v.integer(), v.minValue(0)),
  lines: v.pipe(v.array(LogLineSchema), v.maxLength(10_000)),
  /** Set on the last batch of an attempt: the attempt's total line count. */
  end: v.optional(v.strictObject({ lines: v.pipe(v.number(), v.integer(), v.minValue(0)), exitCode: v.optional(v.number()) })),
});

export type LogLine = v.InferOutput<typeof LogLineSchema>;
export type LogBatch = v.InferOutput<typeof LogBatchSchema>;

/** A line as the log service serves it: with the attempt it belongs to. */
export interface StoredLine extends LogLine {
  attempt: number;
}

export function parseLogBatch(body: unknown): LogBatch {
  return parseInput(LogBatchSchema, body);
}
