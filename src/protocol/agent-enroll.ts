/** POST /api/agents/enroll's answer, shared by the control plane and `nimbus agent join`. */
export interface EnrollResponse {
  agentId: string;
  /** The ledger id of the agent token minted (what `nimbus token revoke` and `agents remove` name). */
  tokenId: string;
  /**
   * The agent's settings (its settings-file lines): NIMBUS_AGENT_ID, NIMBUS_AGENT_TOKEN, NIMBUS_NATS_URL,
   * NIMBUS_LOGS_URL, and NIMBUS_AGENT_CACHE_URL / NIMBUS_AGENT_REGISTRY_URL when the control plane names them.
   * The control plane's own URL (NIMBUS_AGENT_CONTROL_URL) is the one the agent enrolled at.
   */
  settings: Record<string, string>;
}
