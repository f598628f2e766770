/**
 * How the firecracker process is started: directly (`--api-sock`, `--id`) or under the jailer
 * (uid/gid, chroot, network namespace, cgroup limits). Under the jailer every path given to the
 * API is relative to the chroot `<base>/firecracker/<id>/root/`.
 */
import { basename, join } from "node:path";

export interface JailerOptions {
  binary?: string;
  uid: number;
  gid: number;
  chrootBase: string;
  /** e.g. /var/run/netns/<name> */
  netns?: string;
  cgroupVersion?: 1 | 2;
  /** e.g. ["cpu.max=200000 100000", "memory.max=4294967296"] */
  cgroups?: string[];
}

export interface Launch {
  argv: string[];
  /** Directory the API paths are relative to (the process cwd, or the chroot). */
  root: string;
  /** API socket path on the host. */
  socket: string;
}

export function directLaunch(binary: string, id: string, vmDir: string): Launch {
  return { argv: [binary, "--api-sock", "fc.sock", "--id", id], root: vmDir, socket: join(vmDir, "fc.sock") };
}

export function jailedLaunch(binary: string, id: string, j: JailerOptions): Launch {
  const root = join(j.chrootBase, basename(binary), id, "root");
  const argv = [j.binary ?? "jailer", "--id", id, "--exec-file", binary, "--uid", `${j.uid}`, "--gid", `${j.gid}`, "--chroot-base-dir", j.chrootBase];
  if (j.netns) argv.push("--netns", j.netns);
  if (j.cgroupVersion) argv.push("--cgroup-version", `${j.cgroupVersion}`);
  for (const c of j.cgroups ?? []) argv.push("--cgroup", c);
  argv.push("--", "--api-sock", "/fc.sock");
  return { argv, root, socket: join(root, "fc.sock") };
}
