/**
 * The secrets handout, over NATS request/reply (queue group: any control-plane replica answers).
 * The agent holding a job's lease asks at claim time for the job's secrets; the control plane checks
 * the agent's token and that the lease as it stands names this agent, this attempt and this lease
 * revision, opens the job's sealed secrets (src/auth/seal.ts) and answers sealed to the agent's
 * reply key (src/auth/reply-seal.ts: agreed once per pair of processes, one AES-GCM operation per
 * answer), so nothing else on the bus can read the answer.
 * This file is the protocol both sides share; the service is src/control/handout.ts.
 */
import type { NatsConnection, Msg } from "@nats-io/transport-node";
import type { JWK } from "jose";
import { AppError, errorMessage, type ErrorCode } from "../core/errors.ts";
import { ReplyKeys } from "../auth/reply-seal.ts";
import { traceHeaders } from "../nats/trace-headers.ts";

export const HANDOUT_SUBJECT = "nimbus.jobs.handout";
export const HANDOUT_QUEUE = "nimbus-handout";

export interface HandoutRequest {
  jobId: string;
  attempt: number;
  agentId: string;
  /** The revision of the lease the agent holds (the fencing token). */
  leaseRevision: number;
  /** The agent's own token (`nimbus token mint --role agent --name AGENT_ID`), bound to its agent id. */
  agentToken: string;
  /** The agent's reply key (src/auth/reply-seal.ts: P-256, with a key id) the answer is sealed to. A P-256
   * key without a key id (agents before reply keys) is answered with a per-answer ECDH-ES JWE instead. */
  replyKey: JWK;
}

/** Why a handout was refused, beside its code (`forbidden`): what about the lease did not match. */
export type HandoutRefusal = "not_holder" | "wrong_attempt" | "stale_lease" | "not_active";

export interface Handout {
  /** Secret environment values, by name. */
  secrets: Record<string, string>;
  cacheToken?: string;
  /** The attempt's log credential (src/auth/log-credential.ts): the log service takes this attempt's
   * batches only with it. Every handout carries one, secrets or not. */
  logCredential?: string;
  /** The job's registry credential (src/auth/registry-credential.ts): pull and push on its org's
   * repositories while the job runs. Minted at claim, never stored in the job's record. */
  registryCredential?: string;
}

export type HandoutReply = { ok: true; sealedForAgent: string } | { ok: false; code: ErrorCode; message: string; refusal?: HandoutRefusal };

/** This process's reply keys, when the caller brings none (an agent is one process: one set). */
const processKeys = new ReplyKeys();

/**
 * The agent's side: ask for the job's secrets; a refusal comes back as an AppError with its code.
 * `traceparent` (the attempt's span, in the request's headers) makes the control plane's answer a span of the job's trace.
 */
export async function requestHandout(nc: NatsConnection, req: Omit<HandoutRequest, "replyKey">, timeoutMs = 15_000, keys: ReplyKeys = processKeys, traceparent?: string): Promise<Handout> {
  const body: HandoutRequest = { ...req, replyKey: await keys.replyKey() };
  let msg: Msg;
  try {
    msg = await nc.request(HANDOUT_SUBJECT, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs, ...(traceparent ? { headers: traceHeaders(traceparent) } : {}) });
  } catch (e) {
    throw new AppError("unavailable", `the control plane's secrets handout did not answer: ${errorMessage(e)}`);
  }
  const reply = msg.json<HandoutReply>();
  if (!reply.ok) throw new AppError(reply.code, reply.message, reply.refusal ? { refusal: reply.refusal } : undefined);
  return JSON.parse(new TextDecoder().decode(await keys.open(reply.sealedForAgent))) as Handout;
}
