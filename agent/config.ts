/** The host agent's configuration: declared once, validated at start. */
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { leaseTtlMs, logsUrl, natsReplicas, natsToken, natsUrl } from "../src/core/config/common.ts";
import { int, list, oneOf, optionalStr, secret, str, type SettingsSpec } from "../src/core/config/settings.ts";

export const agentSettings = {
  natsUrl,
  natsToken,
  natsReplicas,
  logsUrl,
  leaseTtlMs,
  agentId: {
    env: "NIMBUS_AGENT_ID",
    doc: "Stable id of this agent (empty: generated once and kept in the agent's state directory).",
    schema: optionalStr(),
    default: "",
  },
  stateDir: { env: "NIMBUS_AGENT_DIR", doc: "Directory for the agent's SQLite state and per-job directories.", schema: str(), default: ".nimbus/agent" },
  token: { env: "NIMBUS_AGENT_TOKEN", doc: "Agent token (from `nimbus token mint --kind agent`) for the log service.", schema: secret(20), secret: true },
  slots: { env: "NIMBUS_AGENT_SLOTS", doc: "Jobs this agent runs at once.", schema: int(1, 1024), default: "2" },
  labels: { env: "NIMBUS_AGENT_LABELS", doc: "Extra labels shown for this agent (informational).", schema: list(), default: "" },
  driver: {
    env: "NIMBUS_AGENT_DRIVER",
    doc: "How jobs are isolated: `sandbox` (bubblewrap) or `noop` (benchmarks only: runs nothing, exits 0).",
    schema: oneOf(["sandbox", "noop"] as const),
    default: "sandbox",
  },
  vcpus: { env: "NIMBUS_AGENT_VCPUS", doc: "vCPUs this agent offers (decides the size classes it serves).", schema: int(1, 1024), default: String(Math.max(2, cpus().length)), defaultDoc: "the machine's CPUs (at least 2)" },
  memoryGb: {
    env: "NIMBUS_AGENT_MEMORY_GB",
    doc: "Memory in GB this agent offers.",
    schema: int(1, 65536),
    default: String(Math.max(4, Math.floor(totalmem() / 2 ** 30))),
    defaultDoc: "the machine's memory (at least 4)",
  },
  sandboxDir: {
    env: "NIMBUS_SANDBOX_DIR",
    doc: "Where sandbox workspaces live (per agent below it); every directory above must be traversable by the sandbox uid.",
    schema: str(),
    default: join(tmpdir(), "nimbus-sandboxes"),
    defaultDoc: "$TMPDIR/nimbus-sandboxes",
  },
  sandboxUid: { env: "NIMBUS_SANDBOX_UID", doc: "Unprivileged uid (and gid) sandboxed jobs run as.", schema: int(1, 2 ** 31), default: "65534" },
} satisfies SettingsSpec;
