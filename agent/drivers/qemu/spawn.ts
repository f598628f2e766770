/** Starting a QEMU process for a launch plan: stale sockets removed, the control channel connected. */
import { rmSync } from "node:fs";
import type { OutputSink } from "../types.ts";
import { spawnVm, type VmProcess } from "../../guest/host/vmm.ts";
import { controlSocketOf, qemuArgs, type LaunchPlan } from "./args.ts";

export function spawnQemu(plan: LaunchPlan, binary: string, sink: OutputSink, wrap: (argv: string[]) => string[] = (a) => a): VmProcess {
  const controlSocket = controlSocketOf(plan);
  rmSync(plan.qmpSocket, { force: true });
  rmSync(controlSocket, { force: true });
  return spawnVm(wrap(qemuArgs(plan, binary)), sink, { controlSocket });
}
