/**
 * A run and its instance: the shapes the drivers and the plumbing below them (guest host side, warm
 * pool, networking, images) share. The driver interface (drivers/types.ts) is written in these terms.
 *
 * Names are derived from the job id and attempt (`instanceName`), so every operation is safe to
 * run twice: "already exists" is reconciled, and destroy of something already gone succeeds.
 */
import type { Requirements } from "../../src/jobs/labels.ts";

export interface RunSpec {
  jobId: string;
  attempt: number;
  /** argv of the job; drivers run it as an unprivileged user. */
  command: string[];
  env: Record<string, string>;
  /** Per-job directory on the host that the agent owns; the driver may create files under it. */
  dir: string;
  requirements: Requirements;
  /** The job needs the network (a GitHub runner must reach GitHub); default: none. */
  network?: boolean;
  /** Host directories made visible read-only inside the instance (e.g. the runner at /runner). */
  mounts?: { source: string; target: string }[];
}

/** Everything needed to find and clean up an instance later; stored in the agent's SQLite. */
export interface Instance {
  driver: string;
  /** `nimbus-<jobId>-<attempt>`: the prefix marks it as Nimbus's on the machine. */
  name: string;
  jobId: string;
  attempt: number;
  dir: string;
  pid?: number;
  meta: Record<string, unknown>;
}

export type OutputStream = "out" | "err" | "sys";
export type OutputSink = (stream: OutputStream, chunk: string) => void;

export interface ExitResult {
  exitCode: number;
  signal?: string;
}

export const INSTANCE_PREFIX = "nimbus-";

export function instanceName(jobId: string, attempt: number): string {
  return `${INSTANCE_PREFIX}${jobId}-${attempt}`;
}
