/**
 * Who may do what on NATS: one user per Nimbus process kind, and one per agent, as nats-server
 * `authorization { users [...] }` entries. Pure: the subjects are the ones the nats.js v3 client
 * uses for what each process does (found against nats-server 2.9: test/core/nats-permissions.test.ts).
 *
 * - control: everything (it creates the streams and buckets and serves the agents' requests).
 * - logs: reads job records and leases (is the job real, who holds it), watches the token ledger, and tells
 *   its fellow replicas which lines it stored (live search).
 * - registry: watches the token ledger and the org limits (it enforces the registry quota), appends to the audit stream (deletes).
 * - cache: watches the token ledger and the org limits (it enforces the cache quota), and reads, watches
 *   and writes the shared cache index (creating its bucket if it is the first replica).
 *   Both may create the ledger's and the limits' buckets (whichever service starts first does; creating it again
 *   with the same configuration changes nothing) but not change or delete it.
 * - agent: pulls the pool consumers of the queue and acks, reads and writes job records, leases,
 *   runner facts and its orgs' running slots, watches the org limits, reads cancel signals, writes its own registry key, publishes job events,
 *   requests the control plane's services, and hears replies only on its own inbox prefix. It
 *   cannot serve a service subject, publish into the queue, reply into another inbox, or touch a
 *   stream's configuration (create, update, delete, purge).
 */
import { AppError } from "../core/errors.ts";
import { AUDIT_SUBJECT_PREFIX, CACHE_ENTRIES_BUCKET, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, JOBS_BUCKET, LOGS_STORED_SUBJECT, QUEUE_STREAM } from "./topology.ts";

/** The control plane's request/reply services an agent may call (src/github/service.ts, src/gitea/agent-service.ts, src/jobs/handout.ts, src/jobs/requeue.ts). */
export const AGENT_SERVICE_SUBJECTS = ["nimbus.github.jit", "nimbus.github.remove", "nimbus.github.lookup", "nimbus.forge.runner", "nimbus.forge.remove", "nimbus.jobs.handout", "nimbus.jobs.requeue"];
/** The token ledger's bucket, which every service that checks tokens watches. */
export const TOKEN_LEDGER_BUCKET = "nimbus_tokens";

const AGENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Agent ids become a subject token (inbox prefix) and a user name: letters, digits, `_` and `-`, up to 64. */
export function checkAgentId(id: string): string {
  if (!AGENT_ID.test(id)) throw new AppError("validation_failed", `agent id "${id.slice(0, 80)}" must be 1 to 64 letters, digits, "_" or "-"`, { field: "NIMBUS_AGENT_ID" });
  return id;
}

/** Where an agent hears replies (nats.js `inboxPrefix`): its own, so its user can be pinned to it. */
export const agentInboxPrefix = (agentId: string) => `_INBOX.agent.${checkAgentId(agentId)}`;
/** The log service's and the cache's inbox prefixes. */
export const SERVICE_INBOX = { logs: "_INBOX.logs", cache: "_INBOX.cache", registry: "_INBOX.registry" } as const;
/** The NATS user name of an agent. */
export const agentUser = (agentId: string) => `agent-${checkAgentId(agentId)}`;

export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

export interface NatsUser {
  user: string;
  password: string;
  /** Absent: everything (the control plane). */
  permissions?: Permissions;
}

const api = (s: string) => `$JS.API.${s}`;
const kvStream = (bucket: string) => `KV_${bucket}`;

/** Read a bucket bound without a stream lookup (nats.js `Kvm.open`): message get, direct get, and watches (ordered consumers). */
function readBucket(bucket: string): string[] {
  const s = kvStream(bucket);
  return [api(`STREAM.INFO.${s}`), api(`STREAM.MSG.GET.${s}`), api(`DIRECT.GET.${s}`), api(`DIRECT.GET.${s}.>`), api(`CONSUMER.CREATE.${s}.>`), api(`CONSUMER.DELETE.${s}.*`)];
}

/** Reading a bucket with `get` only (no watches). */
function getBucket(bucket: string): string[] {
  const s = kvStream(bucket);
  return [api(`STREAM.INFO.${s}`), api(`STREAM.MSG.GET.${s}`), api(`DIRECT.GET.${s}`), api(`DIRECT.GET.${s}.>`)];
}

const kvWrite = (bucket: string, keys = ">") => `$KV.${bucket}.${keys}`;

export function agentPermissions(agentId: string): Permissions {
  const q = QUEUE_STREAM;
  return {
    publish: {
      allow: [
        api("INFO"),
        api(`STREAM.INFO.${q}`),
        api(`STREAM.INFO.${EVENTS_STREAM}`),
        api(`CONSUMER.INFO.${q}.*`),
        api(`CONSUMER.CREATE.${q}.>`),
        api(`CONSUMER.DURABLE.CREATE.${q}.*`),
        api(`CONSUMER.MSG.NEXT.${q}.*`),
        `$JS.ACK.${q}.>`,
        ...readBucket(JOBS_BUCKET),
        kvWrite(JOBS_BUCKET),
        ...readBucket("nimbus_leases"),
        kvWrite("nimbus_leases"),
        ...readBucket("nimbus_signals"),
        ...getBucket("nimbus_agents"),
        kvWrite("nimbus_agents", agentId),
        ...readBucket("nimbus_github"),
        kvWrite("nimbus_github", "runner.*"),
        ...readBucket("nimbus_limits"),
        ...readBucket("nimbus_slots"),
        kvWrite("nimbus_slots"),
        `${EVENTS_SUBJECT_PREFIX}.>`,
        ...AGENT_SERVICE_SUBJECTS,
      ],
    },
    subscribe: { allow: [`${agentInboxPrefix(agentId)}.>`] },
  };
}

/** Watching the token ledger, and creating its bucket if no service has yet (src/nats/topology.ts ensureTokenLedger). */
const watchLedger = () => [api(`STREAM.CREATE.${kvStream(TOKEN_LEDGER_BUCKET)}`), ...readBucket(TOKEN_LEDGER_BUCKET)];

export const logsPermissions = (): Permissions => ({
  publish: { allow: [api("INFO"), ...getBucket(JOBS_BUCKET), ...getBucket("nimbus_leases"), ...watchLedger(), LOGS_STORED_SUBJECT] },
  subscribe: { allow: [`${SERVICE_INBOX.logs}.>`, LOGS_STORED_SUBJECT] },
});

/** Watching the org limits, and creating their bucket if the control plane has not yet (ensureLimitsBucket). */
const watchLimits = () => [api(`STREAM.CREATE.${kvStream("nimbus_limits")}`), ...readBucket("nimbus_limits")];

export const cachePermissions = (): Permissions => ({
  publish: {
    allow: [api("INFO"), ...watchLedger(), ...watchLimits(), api(`STREAM.CREATE.${kvStream(CACHE_ENTRIES_BUCKET)}`), ...readBucket(CACHE_ENTRIES_BUCKET), kvWrite(CACHE_ENTRIES_BUCKET)],
  },
  subscribe: { allow: [`${SERVICE_INBOX.cache}.>`] },
});

export const registryPermissions = (): Permissions => ({
  publish: { allow: [api("INFO"), ...watchLedger(), ...watchLimits(), `${AUDIT_SUBJECT_PREFIX}.>`] },
  subscribe: { allow: [`${SERVICE_INBOX.registry}.>`] },
});

/** The `authorization { users [...] }` block of a nats-server config (JSON strings are valid there). */
export function authorizationBlock(users: NatsUser[]): string {
  const q = JSON.stringify;
  const perms = (p: Permissions) =>
    ` permissions: { publish: { allow: ${q(p.publish.allow)} }, subscribe: { allow: ${q(p.subscribe.allow)} } }`;
  const lines = users.map((u) => `    { user: ${q(u.user)}, password: ${q(u.password)}${u.permissions ? "," + perms(u.permissions) : ""} }`);
  return `authorization {\n  users: [\n${lines.join("\n")}\n  ]\n}\n`;
}
