/**
 * The audit trail: every operator and org-admin action (token mint and revoke, cancel, limit
 * changes, registry deletes) is one record on the audit stream, subject `nimbus.audit.<org>` (`_platform` for an
 * action on no org), so reading one org's trail reads only its subject. A record says who (the
 * principal and its token id), what, on which org, when, from where, and the outcome.
 */
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { keyToken } from "../nats/keys.ts";
import { AUDIT_STREAM, AUDIT_SUBJECT_PREFIX } from "../nats/topology.ts";
import type { Principal } from "./principal.ts";

export const AUDIT_ACTIONS = ["token.mint", "token.revoke", "job.cancel", "limits.set", "registry.delete", "agent.enroll", "agent.drain", "agent.remove"] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditRecord {
  /** When (ms since epoch, the recording service's clock). */
  at: number;
  actor: { sub: string; role: Principal["role"]; org: string | null; tokenId: string };
  action: AuditAction;
  /** The organisation acted on (null: the platform). */
  org: string | null;
  /** What was acted on: a job id, a token id, an org. */
  target?: string;
  /** The caller's address as the service saw it. */
  remote: string | null;
  /** "ok", or the error code the action ended with (forbidden, not_found, ...). */
  outcome: string;
  /** Small facts of the action (the limits before and after, the job's state). */
  detail?: Record<string, unknown>;
}

const PLATFORM = "_platform"; // not an org id (those have no underscore)
export const auditSubject = (org: string | null) => `${AUDIT_SUBJECT_PREFIX}.${org ? keyToken(org) : PLATFORM}`;

/** Append one record; resolves when the stream has stored it (an action is not done before its record is). */
export async function appendAudit(js: JetStreamClient, r: AuditRecord): Promise<void> {
  await js.publish(auditSubject(r.org), JSON.stringify(r));
}

export interface AuditQuery {
  /** One org's records (null or absent: every org's and the platform's). */
  org?: string | null;
  /** Records at or after this time (ms since epoch). */
  since?: number;
  /** Records before this time. */
  until?: number;
}

/** The records a query selects, oldest first, read once (no follow). */
export async function* readAudit(js: JetStreamClient, q: AuditQuery = {}): AsyncGenerator<AuditRecord> {
  const from = q.since ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(q.since).toISOString() } : { deliver_policy: DeliverPolicy.All };
  const consumer = await js.consumers.get(AUDIT_STREAM, { filter_subjects: q.org ? auditSubject(q.org) : `${AUDIT_SUBJECT_PREFIX}.>`, ...from });
  let remaining = (await consumer.info(true)).num_pending;
  if (remaining === 0) return;
  const messages = await consumer.consume();
  try {
    for await (const m of messages) {
      remaining--;
      const r = m.json<AuditRecord>();
      if (q.until !== undefined && r.at >= q.until) break;
      // The start time only narrows the read (a time past the last record may start at the first):
      // each record is checked itself, as is its org (a hashed subject could be shared).
      if ((!q.org || r.org === q.org) && (q.since === undefined || r.at >= q.since)) yield r;
      if (remaining <= 0) break;
    }
  } finally {
    messages.stop();
  }
}
