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

/** A network namespace of its own for one sandbox job: a veth into the bridge, an address, the bridge's policy. */
export interface JobNetnsAttachment {
  /** Name under /run/netns (`ip netns exec NAME ...` runs in it). */
  netns: string;
  /** The host end of the veth pair, on the bridge. */
  veth: string;
  /** The job's address with prefix length, e.g. 10.88.0.2/24. */
  ip: string;
  gateway: string;
  dns?: string;
}

export interface JobNetworks {
  /** Creates (or completes) the instance's namespace, veth and address. Idempotent. */
  attachNamespace(instanceName: string): Promise<JobNetnsAttachment>;
  /** Removes the instance's namespace and veth and releases its address. Idempotent. */
  detachNamespace(instanceName: string): Promise<void>;
  /** Instances that hold a namespace lease (for reconciliation after a restart). */
  namespaces(): string[];
}
