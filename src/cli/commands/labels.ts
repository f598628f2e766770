import { explainLabels } from "../../jobs/labels.ts";
import type { Command } from "../command.ts";

export const labelsExplain: Command = {
  name: "labels explain",
  summary: "show how runs-on labels are parsed into requirements and a pool",
  usage: "labels explain LABEL... [--base-label NAME] [--json]",
  details: `Example: nimbus labels explain self-hosted nimbus nimbus-4vcpu-16gb docker
Grammar: nimbus (base label), nimbus-<N>vcpu-<M>gb (size, rounded up to a size class), docker, gpu,
gpu-count:N, image:<ref>, x64|arm64, isolation:sandbox|vm; self-hosted and linux are ignored.
Exits 1 when the labels cannot be served.`,
  options: { "base-label": { type: "string" } },
  positionals: { min: 1, name: "LABEL" },
  async run(ctx, v, labels) {
    const e = explainLabels(labels, { baseLabel: String(v["base-label"] ?? "nimbus"), defaultIsolation: "sandbox" });
    if (ctx.json) return ctx.out(JSON.stringify(e, null, 2)), e.error ? 1 : 0;
    const width = Math.max(...e.labels.map((l) => l.label.length));
    for (const l of e.labels) ctx.out(`  ${l.label.padEnd(width)}  ${l.meaning}`);
    ctx.out("");
    if (!e.ours) ctx.out("not a Nimbus job: no base label");
    if (e.error) {
      ctx.err(`cannot be served: ${e.error}`);
      return 1;
    }
    const r = e.requirements!;
    ctx.out(
      [
        `isolation  ${r.isolation}`,
        `arch       ${r.arch}`,
        `size       ${r.size.name} (${r.size.vcpus} vCPU, ${r.size.memoryGb} GB)`,
        `docker     ${r.docker ? "yes" : "no"}`,
        `gpus       ${r.gpus}`,
        `image      ${r.image ?? "(default)"}`,
        `pool       ${e.pool}`,
      ].join("\n"),
    );
    return 0;
  },
};
