import { parseLabels, poolOf } from "../../jobs/labels.ts";
import type { Command } from "../command.ts";

export const labelsExplain: Command = {
  name: "labels explain",
  summary: "show how runs-on labels are parsed into requirements and a pool",
  usage: "labels explain LABEL... [--json]",
  details: "Example: nimbus labels explain nimbus nimbus-4vcpu-16gb docker",
  options: {},
  positionals: { min: 1, name: "LABEL" },
  async run(ctx, _v, labels) {
    const req = parseLabels(labels);
    const pool = poolOf(req);
    if (ctx.json) return ctx.out(JSON.stringify({ labels, requirements: req, pool }, null, 2)), 0;
    ctx.out(
      [
        `isolation  ${req.isolation}`,
        `arch       ${req.arch}`,
        `size       ${req.size.name} (${req.size.vcpus} vCPU, ${req.size.memoryGb} GB)`,
        `docker     ${req.docker ? "yes" : "no"}`,
        `gpus       ${req.gpus}`,
        `image      ${req.image ?? "(default)"}`,
        `pool       ${pool}`,
      ].join("\n"),
    );
    return 0;
  },
};
