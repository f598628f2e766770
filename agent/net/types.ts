/** What a microVM driver needs from host networking: a tap per instance and the guest's addresses. */
export interface VmNetAttachment {
  /** Host tap device the VMM opens. */
  tap: string;
  mac: string;
  /** Guest address with prefix length, e.g. 10.88.0.2/24. */
  ip: string;
  gateway: string;
  dns?: string;
}

export interface VmNetwork {
  /** Creates (or finds) the instance's tap and address. Idempotent. */
  attach(instanceName: string): Promise<VmNetAttachment>;
  /** Removes the instance's tap and releases its address. Idempotent. */
  detach(instanceName: string): Promise<void>;
}
