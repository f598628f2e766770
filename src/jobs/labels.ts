/**
 * The label grammar: a job's `runs-on` labels become requirements, and requirements a pool.
 *
 *   nimbus                 the base label (configurable); jobs without it are not ours
 *   nimbus-4vcpu-16gb      size: vCPUs and memory, rounded up to a standard size class
 *   docker                 needs a Docker daemon in the job (a VM agent on the ci image)
 *   gpu, gpu-count:N       needs N GPUs (runs in a VM)
 *   image:<ref>            root filesystem from an OCI image (runs in a VM)
 *   x64 | arm64            architecture (default x64)
 *   isolation:sandbox|vm   how the job is isolated (default: the configured isolation)
 *   self-hosted, linux     accepted and ignored (GitHub adds them)
 */
import { AppError } from "../core/errors.ts";
import { boundedText } from "../core/log.ts";
import { DOCKER_NEEDS } from "./docker-serving.ts";

export type Isolation = "sandbox" | "vm";
export type Arch = "x64" | "arm64";

export interface SizeClass {
  name: string;
  vcpus: number;
  memoryGb: number;
}

export const SIZE_CLASSES: readonly SizeClass[] = [
  { name: "2c4g", vcpus: 2, memoryGb: 4 },
  { name: "4c16g", vcpus: 4, memoryGb: 16 },
  { name: "8c32g", vcpus: 8, memoryGb: 32 },
  { name: "16c64g", vcpus: 16, memoryGb: 64 },
];

export interface Requirements {
  arch: Arch;
  isolation: Isolation;
  size: SizeClass;
  docker: boolean;
  gpus: number;
  image?: string;
}

export interface LabelOptions {
  baseLabel: string;
  defaultIsolation: Isolation;
}

export const DEFAULT_LABEL_OPTIONS: LabelOptions = { baseLabel: "nimbus", defaultIsolation: "sandbox" };

const IGNORED = new Set(["self-hosted", "linux"]);

export function hasBaseLabel(labels: readonly string[], opts: LabelOptions = DEFAULT_LABEL_OPTIONS): boolean {
  const base = opts.baseLabel.toLowerCase();
  return labels.some((l) => {
    const x = l.toLowerCase();
    return x === base || x.startsWith(`${base}-`);
  });
}

function sizeFor(vcpus: number, memoryGb: number): SizeClass {
  const fit = SIZE_CLASSES.find((s) => s.vcpus >= vcpus && s.memoryGb >= memoryGb);
  if (!fit)
    throw new AppError("validation_failed", `no size class fits ${vcpus} vCPU / ${memoryGb} GB (largest is ${SIZE_CLASSES.at(-1)!.name})`, {
      field: "labels",
    });
  return fit;
}

/** Parse labels into requirements; impossible or unknown labels are errors naming the label. */
export function parseLabels(labels: readonly string[], opts: LabelOptions = DEFAULT_LABEL_OPTIONS): Requirements {
  const base = opts.baseLabel.toLowerCase();
  const sizeRe = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d+)vcpu-(\\d+)gb$`);
  let vcpus = SIZE_CLASSES[0]!.vcpus;
  let memoryGb = SIZE_CLASSES[0]!.memoryGb;
  let isolation: Isolation | undefined;
  const req: Omit<Requirements, "size" | "isolation"> = { arch: "x64", docker: false, gpus: 0 };
  // A label is input (a webhook's may be any length): errors quote it bounded.
  const bad = (label: string, why: string) => new AppError("validation_failed", `label "${boundedText(label)}": ${why}`, { field: "labels", label: boundedText(label) });

  for (const raw of labels) {
    const label = raw.trim();
    const l = label.toLowerCase();
    if (l === base || IGNORED.has(l)) continue;
    const size = sizeRe.exec(l);
    if (size) {
      vcpus = Number(size[1]);
      memoryGb = Number(size[2]);
      if (vcpus < 1 || memoryGb < 1) throw bad(label, "size must be at least 1 vCPU and 1 GB");
    } else if (l === "docker") req.docker = true;
    else if (l === "gpu") req.gpus = Math.max(req.gpus, 1);
    else if (l.startsWith("gpu-count:")) {
      const n = Number(l.slice("gpu-count:".length));
      if (!Number.isInteger(n) || n < 1 || n > 16) throw bad(label, "gpu-count must be a whole number from 1 to 16");
      req.gpus = n;
    } else if (l.startsWith("image:")) {
      const ref = label.slice("image:".length);
      if (!/^[a-z0-9][a-z0-9._\-/:@]*$/i.test(ref)) throw bad(label, "image reference is not valid");
      req.image = ref;
    } else if (l === "x64" || l === "amd64" || l === "x86_64") req.arch = "x64";
    else if (l === "arm64" || l === "aarch64") req.arch = "arm64";
    else if (l === "isolation:sandbox" || l === "isolation:vm") isolation = l.slice("isolation:".length) as Isolation;
    else throw bad(label, "unknown label (see `nimbus labels explain`)");
  }

  const needsVm = req.docker || req.gpus > 0 || req.image !== undefined;
  if (needsVm && isolation === "sandbox") throw new AppError("validation_failed", "docker, gpu and image: labels need isolation:vm", { field: "labels" });
  return { ...req, isolation: isolation ?? (needsVm ? "vm" : opts.defaultIsolation), size: sizeFor(vcpus, memoryGb) };
}

/** The queue pool a job waits in: one NATS subject per pool, e.g. `x64.sandbox.2c4g` or `x64.vm.4c16g.gpu`. */
export function poolOf(req: Requirements): string {
  const parts = [req.arch, req.isolation, req.size.name];
  if (req.gpus > 0) parts.push(`gpu${req.gpus}`);
  if (req.docker) parts.push("docker");
  return parts.join(".");
}

export interface AgentCapacity {
  arch: Arch;
  isolations: readonly Isolation[];
  vcpus: number;
  memoryGb: number;
  gpus: number;
  docker: boolean;
}

/** Every pool an agent with this capacity can serve. */
export function poolsFor(cap: AgentCapacity): string[] {
  const pools: string[] = [];
  for (const isolation of cap.isolations) {
    for (const size of SIZE_CLASSES) {
      if (size.vcpus > cap.vcpus || size.memoryGb > cap.memoryGb) continue;
      const gpuCounts = isolation === "vm" ? [0, ...Array.from({ length: cap.gpus }, (_, i) => i + 1)] : [0];
      const dockerOpts = isolation === "vm" && cap.docker ? [false, true] : [false];
      for (const gpus of gpuCounts)
        for (const docker of dockerOpts) pools.push(poolOf({ arch: cap.arch, isolation, size, gpus, docker }));
    }
  }
  return pools;
}

export interface LabelExplanation {
  /** Whether the labels carry the base label (jobs without it are not Nimbus's). */
  ours: boolean;
  labels: { label: string; meaning: string }[];
  requirements?: Requirements;
  pool?: string;
  /** Why the labels cannot be served (the job would be rejected visibly). */
  error?: string;
}

function meaningOf(label: string, opts: LabelOptions): string {
  const l = label.trim().toLowerCase();
  const base = opts.baseLabel.toLowerCase();
  if (l === base) return "base label: the job is Nimbus's";
  if (IGNORED.has(l)) return "accepted and ignored (GitHub adds it)";
  const size = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d+)vcpu-(\\d+)gb$`).exec(l);
  if (size) return `size: at least ${size[1]} vCPU and ${size[2]} GB (rounded up to a size class)`;
  if (l === "docker") return `needs a Docker daemon: runs only on ${DOCKER_NEEDS}`;
  if (l === "gpu") return "needs a GPU (runs in a VM)";
  if (l.startsWith("gpu-count:")) return `needs ${l.slice(10)} GPUs (runs in a VM)`;
  if (l.startsWith("image:")) return `root filesystem from image ${label.trim().slice(6)} (runs in a VM)`;
  if (["x64", "amd64", "x86_64"].includes(l)) return "architecture x64";
  if (["arm64", "aarch64"].includes(l)) return "architecture arm64";
  if (l === "isolation:sandbox" || l === "isolation:vm") return `isolation: ${l.slice(10)}`;
  return "unknown label";
}

/** What `nimbus labels explain` shows: each label's meaning, then the requirements and pool, or why they are impossible. */
export function explainLabels(labels: readonly string[], opts: LabelOptions = DEFAULT_LABEL_OPTIONS): LabelExplanation {
  const out: LabelExplanation = { ours: hasBaseLabel(labels, opts), labels: labels.map((label) => ({ label, meaning: meaningOf(label, opts) })) };
  try {
    out.requirements = parseLabels(labels, opts);
    out.pool = poolOf(out.requirements);
  } catch (e) {
    out.error = (e as Error).message;
  }
  return out;
}
