/**
 * The secrets handout, over NATS request/reply (queue group: any control-plane replica answers).
 * The agent holding a job's lease asks at claim time for the job's secrets; the control plane checks
 * the agent's token and that the lease as it stands names this agent, this attempt and this lease
 * revision, opens the job's sealed secrets (src/auth/seal.ts) and answers encrypted to a key the
 * agent made for this one request, so nothing else on the bus can read the answer.
 * This file is the protocol both sides share; the service is src/control/handout.ts.
 */
import type { NatsConnection, Msg } from "@nats-io/transport-node";
import { compactDecrypt, exportJWK, generateKeyPair, type JWK } from "jose";
import { AppError, errorMessage, type ErrorCode } from "../core/errors.ts";

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
  /** An ECDH-ES P-256 public key the answer is encrypted to. */
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

/** The agent's side: ask for the job's secrets; a refusal comes back as an AppError with its code. */
export async function requestHandout(nc: NatsConnection, req: Omit<HandoutRequest, "replyKey">, timeoutMs = 15_000): Promise<Handout> {
  const { publicKey, privateKey } = await generateKeyPair("ECDH-ES", { crv: "P-256" });
  const body: HandoutRequest = { ...req, replyKey: await exportJWK(publicKey) };
  let msg: Msg;
  try {
    msg = await nc.request(HANDOUT_SUBJECT, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  } catch (e) {
    throw new AppError("unavailable", `the control plane's secrets handout did not answer: ${errorMessage(e)}`);
  }
  const reply = msg.json<HandoutReply>();
  if (!reply.ok) throw new AppError(reply.code, reply.message, reply.refusal ? { refusal: reply.refusal } : undefined);
  const { plaintext } = await compactDecrypt(reply.sealedForAgent, privateKey, { keyManagementAlgorithms: ["ECDH-ES"] });
  return JSON.parse(new TextDecoder().decode(plaintext)) as Handout;
}
