/**
 * The driver interface: how an agent turns a job into an isolated execution. One conformance
 * suite (test/drivers/conformance.ts) runs against every implementation.
 * The shapes it speaks in (RunSpec, Instance, OutputSink, ...) live below the drivers, in vm/run.ts.
 */
import type { ExitResult, Instance, OutputSink, RunSpec } from "../vm/run.ts";

export type { ExitResult, Instance, OutputSink, OutputStream, RunSpec } from "../vm/run.ts";
export { INSTANCE_PREFIX, instanceName } from "../vm/run.ts";

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
