/** A driver that runs nothing and exits 0 at once: for pipeline benchmarks only (NIMBUS_AGENT_DRIVERS=noop). */
import { instanceName, type Driver, type Execution, type Instance, type RunSpec } from "./types.ts";

export class NoopDriver implements Driver {
  readonly name = "noop";
  async probe() {
    return { ok: true, detail: "runs nothing (benchmarks only)" };
  }
  async prepare(spec: RunSpec): Promise<Instance> {
    return { driver: this.name, name: instanceName(spec.jobId, spec.attempt), jobId: spec.jobId, attempt: spec.attempt, dir: spec.dir, meta: {} };
  }
  async start(): Promise<Execution> {
    return { exited: Promise.resolve({ exitCode: 0 }) };
  }
  async stop() {}
  async destroy() {}
  async list() {
    return [];
  }
}
