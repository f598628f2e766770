import { connect, headers, type NatsConnection } from "@nats-io/transport-node";

export interface NatsOptions {
  url: string;
  token?: string;
  name: string;
}

/** Connect with reconnects forever: NATS outages are waited out, not fatal. */
export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  return connect({
    servers: opts.url.split(",").map((s) => s.trim()),
    token: opts.token || undefined,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
}

/** Publish into a JetStream stream's subject without waiting for the ack; the message id still dedupes. */
export function publishNoAck(nc: NatsConnection): (subject: string, data: Uint8Array, msgId: string) => void {
  return (subject, data, msgId) => {
    const h = headers();
    h.set("Nats-Msg-Id", msgId);
    nc.publish(subject, data, { headers: h });
  };
}
