/**
 * The job config disk read by the guest init (agent/guest/config.sh): a raw, fixed-size disk image
 * (no filesystem) holding text lines "KEY VALUE", first "NIMBUS1", last "end". argv and env entries
 * are base64, so any byte is safe and the guest never evaluates them. The size is fixed so that a
 * disk swapped in under a restored snapshot matches the one the guest saw at boot.
 */
import { AppError } from "../../../src/core/errors.ts";

export const CONFIG_DISK_BYTES = 1 << 20;

export interface GuestNet {
  /** Guest address with prefix, e.g. 10.88.0.2/24. */
  ip: string;
  gateway: string;
  dns?: string;
  mac: string;
}

export interface GuestConfig {
  hostname: string;
  command: string[];
  env: Record<string, string>;
  uid?: number;
  net?: GuestNet;
  /** Read-only disks to mount in the job's root: drive id (serial `nimbus-<id>`) and target path. */
  mounts?: { id: string; target: string }[];
  /** The job asked for docker (label `docker`): the guest starts dockerd before it (agent/guest/docker.sh). */
  docker?: boolean;
  /** Lines for the job root's /etc/hosts ("host IP NAME"). */
  hosts?: { ip: string; name: string }[];
  /** A PEM certificate the guest adds to its trust store ("ca BASE64"). */
  caPem?: string;
  /** The host's clock, unix seconds: the guest sets its own to it (a restored VM's stands at its snapshot's moment). */
  time?: number;
  /** dockerd's registry-mirrors endpoint (http://GATEWAY:PORT, Nimbus's registry): "mirror URL". */
  registryMirror?: string;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SAFE = /^[A-Za-z0-9._:/-]*$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PEM_CERT = /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$/;

function b64(s: string): string {
  return Buffer.from(s, "utf8").toString("base64");
}

function safe(key: string, value: string): string {
  if (!SAFE.test(value)) throw new AppError("validation_failed", `guest config ${key} has unsafe characters`, { field: key });
  return value;
}

function scalar(key: string, value: string): string {
  return `${key} ${safe(key, value)}`;
}

export function encodeGuestConfig(cfg: GuestConfig): string {
  if (cfg.command.length === 0) throw new AppError("validation_failed", "job command is empty", { field: "command" });
  const lines = ["NIMBUS1", scalar("name", cfg.hostname.slice(0, 63)), scalar("uid", String(cfg.uid ?? 1000))];
  if (cfg.net) {
    lines.push(scalar("ip", cfg.net.ip), scalar("gw", cfg.net.gateway), scalar("mac", cfg.net.mac));
    if (cfg.net.dns) lines.push(scalar("dns", cfg.net.dns));
  }
  if (cfg.docker) lines.push("docker 1");
  if (cfg.time !== undefined) lines.push(scalar("time", String(Math.floor(cfg.time))));
  if (cfg.registryMirror !== undefined) {
    if (!/^http:\/\/\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(cfg.registryMirror)) throw new AppError("validation_failed", "guest config mirror must be http://IPV4:PORT", { field: "registryMirror" });
    lines.push(`mirror ${cfg.registryMirror}`);
  }
  for (const h of cfg.hosts ?? []) {
    if (!IPV4.test(h.ip) || !HOSTNAME.test(h.name)) throw new AppError("validation_failed", `guest config host "${h.ip} ${h.name}" is not an IPv4 address and a host name`, { field: "hosts" });
    lines.push(`host ${h.ip} ${h.name}`);
  }
  if (cfg.caPem !== undefined) {
    if (!PEM_CERT.test(cfg.caPem)) throw new AppError("validation_failed", "guest config ca is not a PEM certificate", { field: "caPem" });
    lines.push(`ca ${b64(cfg.caPem)}`);
  }
  for (const m of cfg.mounts ?? []) lines.push(`mount ${safe("mount", m.id)} ${safe("mount", m.target)}`);
  for (const [k, v] of Object.entries(cfg.env)) {
    if (!ENV_KEY.test(k)) throw new AppError("validation_failed", `environment name "${k}" is not valid`, { field: "env", key: k });
    lines.push(`env ${b64(`${k}=${v}`)}`);
  }
  for (const a of cfg.command) lines.push(`arg ${b64(a)}`);
  lines.push("end", "");
  return lines.join("\n");
}

/** The disk image: the config text zero-padded to CONFIG_DISK_BYTES. */
export function configDiskImage(cfg: GuestConfig): Uint8Array {
  const text = Buffer.from(encodeGuestConfig(cfg), "utf8");
  if (text.length > CONFIG_DISK_BYTES - 1)
    throw new AppError("payload_too_large", `job config is ${text.length} bytes; the limit is ${CONFIG_DISK_BYTES - 1}`);
  const img = new Uint8Array(CONFIG_DISK_BYTES);
  img.set(text, 0);
  return img;
}
