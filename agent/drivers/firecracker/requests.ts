/**
 * Every request the firecracker driver sends, as pure data built from a plan. The wire tests
 * validate each body against Firecracker's own API description (swagger v1.16.1).
 *
 * Paths given to Firecracker are relative to its working directory (the instance's VM dir, or the
 * jailer's chroot), so a snapshot taken in one directory restores in another with that
 * directory's own disks.
 */
export interface ApiRequest {
  method: "GET" | "PUT" | "PATCH";
  path: string;
  body?: Record<string, unknown>;
}

export interface FcPlan {
  vcpus: number;
  memoryMiB: number;
  /** File names inside the VM dir / chroot. */
  kernel: string;
  initramfs: string;
  rootfs: string;
  jobDisk: string;
  configDisk: string;
  bootArgs: string;
  net?: { tap: string; mac: string };
  /** Read-only disks after the fixed three (vdd, vde, …), mounted by the guest init. */
  mounts?: { id: string; image: string }[];
  /** The job config (the config disk's text) to serve over MMDS V2; needs `net`. */
  mmdsConfig?: string;
  logPath?: string;
}

export const IFACE_ID = "eth0";

export function firecrackerBootArgs(mode: "run" | "wait", config: "disk" | "mmds" = "disk"): string {
  const base = `console=ttyS0 quiet loglevel=1 reboot=k panic=1 pci=off random.trust_cpu=on nimbus.halt=reboot nimbus.mode=${mode}`;
  return config === "mmds" ? `${base} nimbus.config=mmds` : base;
}

export const MMDS_IP = "169.254.169.254";

/** MMDS V2 (session tokens) on the guest's NIC, at the usual link-local address. Pre-boot only. */
export const mmdsConfigRequest: ApiRequest = { method: "PUT", path: "/mmds/config", body: { version: "V2", network_interfaces: [IFACE_ID], ipv4_address: MMDS_IP } };

/** The MMDS data store: the job config, base64, at /nimbus/config (agent/guest/mmds.sh reads it). */
export function mmdsPut(configText: string | null): ApiRequest {
  return { method: "PUT", path: "/mmds", body: configText === null ? {} : { nimbus: { config: Buffer.from(configText, "utf8").toString("base64") } } };
}

/** Firecracker accepts 1 or an even number of vCPUs. */
export function fcVcpus(n: number): number {
  return n <= 1 ? 1 : Math.min(32, n - (n % 2));
}

function drive(id: string, path: string, readOnly: boolean): ApiRequest {
  return { method: "PUT", path: `/drives/${id}`, body: { drive_id: id, path_on_host: path, is_root_device: false, is_read_only: readOnly, cache_type: "Unsafe", io_engine: "Sync" } };
}

/** Pre-boot configuration, in order: drives are attached as vda, vdb, vdc, then mounts (the guest relies on it). */
export function bootRequests(plan: FcPlan): ApiRequest[] {
  const reqs: ApiRequest[] = [];
  if (plan.logPath) reqs.push({ method: "PUT", path: "/logger", body: { log_path: plan.logPath, level: "Warning", show_level: true, show_log_origin: false } });
  reqs.push(
    { method: "PUT", path: "/machine-config", body: { vcpu_count: fcVcpus(plan.vcpus), mem_size_mib: plan.memoryMiB, smt: false, track_dirty_pages: false } },
    { method: "PUT", path: "/boot-source", body: { kernel_image_path: plan.kernel, initrd_path: plan.initramfs, boot_args: plan.bootArgs } },
    drive("rootfs", plan.rootfs, true),
    drive("job", plan.jobDisk, false),
    drive("config", plan.configDisk, true),
    ...(plan.mounts ?? []).map((m) => drive(m.id, m.image, true)),
  );
  if (plan.net) reqs.push({ method: "PUT", path: `/network-interfaces/${IFACE_ID}`, body: { iface_id: IFACE_ID, host_dev_name: plan.net.tap, guest_mac: plan.net.mac } });
  if (plan.net && plan.mmdsConfig !== undefined) reqs.push(mmdsConfigRequest, mmdsPut(plan.mmdsConfig));
  return reqs;
}

export const instanceStart: ApiRequest = { method: "PUT", path: "/actions", body: { action_type: "InstanceStart" } };
export const pause: ApiRequest = { method: "PATCH", path: "/vm", body: { state: "Paused" } };
export const resume: ApiRequest = { method: "PATCH", path: "/vm", body: { state: "Resumed" } };
export const describe: ApiRequest = { method: "GET", path: "/" };

export function snapshotCreate(snapshotPath: string, memPath: string): ApiRequest {
  return { method: "PUT", path: "/snapshot/create", body: { snapshot_path: snapshotPath, mem_file_path: memPath, snapshot_type: "Full" } };
}

/** Load on a fresh process; the tap is swapped for this instance's own. */
export function snapshotLoad(snapshotPath: string, memPath: string, tap?: string): ApiRequest {
  const body: Record<string, unknown> = { snapshot_path: snapshotPath, mem_backend: { backend_type: "File", backend_path: memPath }, resume_vm: true };
  if (tap) body.network_overrides = [{ iface_id: IFACE_ID, host_dev_name: tap }];
  return { method: "PUT", path: "/snapshot/load", body };
}
