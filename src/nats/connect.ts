import { connect, type NatsConnection } from "@nats-io/transport-node";

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
