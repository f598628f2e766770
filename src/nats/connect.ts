import { connect, headers, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";

export interface NatsOptions {
  url: string;
  /** A NATS user and password (`nimbus up` gives each process its own); wins over `token`. */
  user?: string;
  password?: string;
  /** A shared token (a fleet whose nats-server has `authorization { token }`). */
  token?: string;
  /** A user JWT and its nkey seed (decentralized auth, src/nats/decentralized.ts), asked for again on
   * every (re)connect so an expired JWT is replaced by a renewed one; wins over `user` and `token`. */
  credentials?: () => { jwt: string; seed: string };
  name: string;
  /** Where replies arrive (default `_INBOX`): an agent's own prefix, so its user can be pinned to it. */
  inboxPrefix?: string;
}

/** The NATS credentials a process's settings name: a user JWT and seed, else a user and password, else a token. */
export function natsAuthOf(c: { natsUser: string; natsPassword: string; natsToken: string; natsJwt?: string; natsSeed?: string }): Pick<NatsOptions, "user" | "password" | "token" | "credentials"> {
  if (c.natsJwt && c.natsSeed) {
    const creds = { jwt: c.natsJwt, seed: c.natsSeed };
    return { credentials: () => creds };
  }
  return { user: c.natsUser || undefined, password: c.natsUser ? c.natsPassword : undefined, token: c.natsToken || undefined };
}

/** Connect with reconnects forever: NATS outages are waited out, not fatal. */
export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  const creds = opts.credentials;
  const auth = creds
    ? { authenticator: jwtAuthenticator(() => creds().jwt, () => new TextEncoder().encode(creds().seed)) }
    : opts.user ? { user: opts.user, pass: opts.password ?? "" } : { token: opts.token || undefined };
  return connect({
    servers: opts.url.split(",").map((s) => s.trim()),
    ...auth,
    name: opts.name,
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Without it every request and flush builds an Error up front for a stack trace it might need: a
    // few percent of each service's CPU on the job pipeline. Errors still name their cause.
    noAsyncTraces: true,
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
