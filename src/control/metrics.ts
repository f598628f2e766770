import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { JobIndex } from "../jobs/job-index.ts";
import { STATES } from "../jobs/record.ts";

export interface ControlMetrics {
  registry: Registry;
  jobsSubmitted: Counter;
}

export function controlMetrics(index: () => JobIndex | undefined): ControlMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "nimbus_control_" });
  const jobsSubmitted = new Counter({ name: "nimbus_jobs_submitted_total", help: "Jobs created by direct submission.", registers: [registry] });
  new Gauge({
    name: "nimbus_jobs",
    help: "Jobs known to the control plane, by state.",
    labelNames: ["state"],
    registers: [registry],
    collect() {
      const counts = index()?.countByState() ?? {};
      for (const s of STATES) this.set({ state: s }, counts[s] ?? 0);
    },
  });
  return { registry, jobsSubmitted };
}
