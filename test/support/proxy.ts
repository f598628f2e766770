/**
 * A TCP proxy a test controls, standing in for what sits between a client and a service: it can cut
 * every connection (a dropped network, a restarted balancer) and, like a real proxy, close a
 * connection that carried no byte either way for `idleMs`. It records each connection's request head.
 */
import { createServer, connect, type Socket } from "node:net";

export interface ProxyConnection {
  /** The request head (method, path, headers) as the client sent it. */
  head: string;
  /** Closed by the idle timeout (not by either end, nor by cutAll). */
  idledOut: boolean;
}

export interface TcpProxy {
  url: string;
  connections: ProxyConnection[];
  /** Connections whose request line contains `path`. */
  requestsTo(path: string): ProxyConnection[];
  cutAll(): void;
  stop(): Promise<void>;
}

export async function tcpProxy(targetPort: number, opts: { idleMs?: number } = {}): Promise<TcpProxy> {
  const connections: ProxyConnection[] = [];
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const conn: ProxyConnection = { head: "", idledOut: false };
    connections.push(conn);
    const upstream = connect(targetPort, "127.0.0.1");
    open.add(client).add(upstream);
    let idle: ReturnType<typeof setTimeout> | undefined;
    const kill = () => {
      clearTimeout(idle);
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    const touch = () => {
      if (!opts.idleMs) return;
      clearTimeout(idle);
      idle = setTimeout(() => ((conn.idledOut = true), kill()), opts.idleMs);
    };
    touch();
    client.on("data", (d) => {
      if (conn.head.length < 4096) conn.head += d.toString("latin1").slice(0, 4096);
      touch();
      upstream.write(d);
    });
    upstream.on("data", (d) => {
      touch();
      client.write(d);
    });
    for (const s of [client, upstream]) {
      s.on("error", kill);
      s.on("close", kill);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    requestsTo: (path) => connections.filter((c) => c.head.split("\r\n")[0]!.includes(path)),
    cutAll() {
      for (const s of open) s.destroy();
      open.clear();
    },
    stop() {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
