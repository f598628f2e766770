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
  /** What the guest's root gets before the job starts (microVMs only): host names and a trusted CA. */
  guest?: GuestExtras;
}

/** Names, trust and mirrors a microVM's job root is given (a GitHub job's results-host gateway, a docker job's registry mirror). */
export interface GuestExtras {
  /** Lines added to the job root's /etc/hosts. */
  hosts?: { ip: string; name: string }[];
  /** A PEM certificate added to the job root's trust store (and kept at GUEST_CA_PATH). */
  caPem?: string;
  /** A docker job's dockerd registry-mirrors endpoint: Nimbus's registry on the gateway (http://IP:PORT). */
  registryMirror?: string;
}

/** Where the guest keeps the CA of GuestExtras.caPem (NODE_EXTRA_CA_CERTS points here). */
export const GUEST_CA_PATH = "/usr/local/share/ca-certificates/nimbus.crt";

/** The guest address of a microVM instance (without its prefix length), when it has one. */
export function guestAddress(inst: Instance): string | undefined {
  const m = inst.meta as { ip?: unknown; net?: { ip?: unknown } };
  const ip = typeof m.ip === "string" ? m.ip : typeof m.net?.ip === "string" ? m.net.ip : undefined;
  return ip?.split("/")[0];
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
