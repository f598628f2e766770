/**
 * The driver interface: how an agent turns a job into an isolated execution. One conformance
 * suite (test/drivers/conformance.ts) runs against every implementation.
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

export interface Execution {
  pid?: number;
  /** Resolves when the job's process (or VM) has exited and all output has been delivered. */
  exited: Promise<ExitResult>;
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

export interface Driver {
  readonly name: string;
  /** Can this driver run here? Never throws; says why not. */
  probe(): Promise<ProbeResult>;
  /** Create the instance's resources (disks, sockets, directories). Idempotent. */
  prepare(spec: RunSpec): Promise<Instance>;
  /** Boot and run the job, passing its config; output goes to `sink` as it is produced. */
  start(instance: Instance, spec: RunSpec, sink: OutputSink): Promise<Execution>;
  /** Stop the job: the whole process tree (or VM) is gone when this resolves. Idempotent. */
  stop(instance: Instance): Promise<void>;
  /** Remove every resource of the instance. Idempotent: destroying what is gone succeeds. */
  destroy(instance: Instance): Promise<void>;
  /** Instances of this driver that exist on the machine (by the `nimbus-` prefix), for reconciliation. */
  list(): Promise<Instance[]>;
  /** Agent stop: release what the driver keeps on its own (a warm pool's VMs). */
  close?(): Promise<void>;
}

export const INSTANCE_PREFIX = "nimbus-";

export function instanceName(jobId: string, attempt: number): string {
  return `${INSTANCE_PREFIX}${jobId}-${attempt}`;
}
