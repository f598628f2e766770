/**
 * systemd units for one host's Nimbus processes (`nimbus install --systemd NAME`): what each runs,
 * as whom, with which data directory and limits. Pure: the command writes what this returns.
 */
import type { ServiceName } from "../../core/binaries.ts";

export type UnitName = ServiceName | "agent";
export const UNIT_NAMES: readonly UnitName[] = ["control", "logs", "cache", "registry", "agent"];

export interface UnitPlan {
  /** nimbus-NAME.service */
  file: string;
  text: string;
  /** Settings the unit fixes (data paths): written as Environment= lines, left out of the settings file. */
  fixed: Record<string, string>;
}

const STATE = "/var/lib/nimbus";
const SUMMARY: Record<UnitName, string> = {
  control: "Nimbus control plane (webhooks, API, dashboard, reconciler)",
  logs: "Nimbus log service",
  cache: "Nimbus Actions cache service",
  registry: "Nimbus registry (OCI distribution, Docker layer cache)",
  agent: "Nimbus host agent (runs jobs in microVMs and sandboxes)",
};

/** The data paths each unit keeps under its StateDirectory. */
function fixedSettings(name: UnitName): Record<string, string> {
  const dir = `${STATE}/${name}`;
  switch (name) {
    case "logs": return { NIMBUS_LOGS_DB: `${dir}/logs.sqlite` };
    case "cache": return { NIMBUS_CACHE_DB: `${dir}/cache.sqlite`, NIMBUS_CACHE_DIR: `${dir}/objects` };
    case "registry": return { NIMBUS_REGISTRY_DIR: `${dir}/blobs` };
    case "agent": return { NIMBUS_AGENT_DIR: dir };
    case "control": return {};
  }
}

/**
 * The services run as a dynamic user with a private state directory and a read-only system. The
 * agent runs as root: it opens /dev/kvm and /dev/net/tun, makes taps, bridges and nftables rules,
 * and starts bubblewrap sandboxes; it stops by draining, which waits for its jobs.
 */
function serviceSection(name: UnitName, exec: string, envFile: string, fixed: Record<string, string>): string[] {
  const common = [
    `ExecStart=${exec}`,
    `EnvironmentFile=${envFile}`,
    ...Object.entries(fixed).map(([k, v]) => `Environment=${k}=${v}`),
    `StateDirectory=nimbus/${name}`,
    "StateDirectoryMode=0700",
    "UMask=0077",
    "LimitNOFILE=1048576",
  ];
  if (name === "agent") {
    return [
      ...common,
      "User=root",
      // Sandboxes and VMs live in the agent's cgroup; a restart must not kill running jobs' processes
      // before the agent (which reconciles them from its SQLite state) is back.
      "Delegate=yes",
      "KillMode=mixed",
      "Restart=always",
      "RestartSec=2",
      // A stop drains: running jobs finish first (drain the agent beforehand to bound this).
      "TimeoutStopSec=6h",
    ];
  }
  return [
    ...common,
    "DynamicUser=yes",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "CapabilityBoundingSet=",
    "Restart=always",
    "RestartSec=1",
    "TimeoutStopSec=30s",
  ];
}

export function unitPlan(name: UnitName, bin: { nimbus: string; agent: string }, envFile: string): UnitPlan {
  const exec = name === "agent" ? bin.agent : `${bin.nimbus} service ${name}`;
  const fixed = fixedSettings(name);
  const text = [
    "[Unit]",
    `Description=${SUMMARY[name]}`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    ...serviceSection(name, exec, envFile, fixed),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
  return { file: `nimbus-${name}.service`, text, fixed };
}
