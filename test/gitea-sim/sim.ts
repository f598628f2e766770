/**
 * A Gitea (or Forgejo) instance for tests: one HTTP server with the runner API over Connect at
 * /api/actions (connect-node's adapter: binary protobuf and Connect JSON), the REST API at /api/v1,
 * and signed `workflow_job` webhooks to a target. Nothing here is Nimbus code: it plays the forge.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GiteaModel } from "./model.ts";
import { MAX_RPC_BYTES, RUNNER_API_PREFIX, runnerRoutes, type RpcStats } from "./connect.ts";
import { restHandler, type RestState } from "./rest.ts";
import { GiteaWebhooks } from "./webhooks.ts";

export interface GiteaSimOptions {
  kind?: "gitea" | "forgejo";
  apiToken?: string;
  webhookSecret?: string;
  /** Where webhooks go (empty: none are sent, as on a Gitea without workflow_job webhooks). */
  webhookTarget?: string;
  port?: number;
  host?: string;
}

export interface GiteaSim {
  url: string;
  kind: "gitea" | "forgejo";
  model: GiteaModel;
  rpc: RpcStats;
  rest: RestState;
  hooks: GiteaWebhooks;
  stop(): Promise<void>;
}

async function restFallback(rest: RestState, model: GiteaModel, base: string, req: IncomingMessage, res: ServerResponse) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1024 * 1024) return void res.writeHead(413).end();
    chunks.push(c as Buffer);
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
  const hasBody = req.method !== "GET" && req.method !== "HEAD" && chunks.length > 0;
  const r = await restHandler(model, rest, new Request(base + req.url, { method: req.method, headers, body: hasBody ? Buffer.concat(chunks) : undefined }));
  res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "text/plain" }).end(Buffer.from(await r.arrayBuffer()));
}

export async function startGiteaSim(o: GiteaSimOptions = {}): Promise<GiteaSim> {
  const kind = o.kind ?? "gitea";
  const model = new GiteaModel();
  const rpc: RpcStats = { calls: {}, encodings: {} };
  const rest: RestState = { apiToken: o.apiToken ?? "sim-api-token-0123456789", calls: [], fail5xx: 0 };
  const hooks = new GiteaWebhooks(o.webhookSecret ?? "sim-webhook-secret-0123456789", o.webhookTarget ?? "", kind);
  model.onJob = (job, action) => {
    if (hooks.target) hooks.emit(job, action);
  };
  let url = "";
  const handler = connectNodeAdapter({
    routes: runnerRoutes(model, rpc, () => url),
    requestPathPrefix: RUNNER_API_PREFIX,
    readMaxBytes: MAX_RPC_BYTES,
    // An unknown procedure under the runner API is Connect's 404; everything else is REST.
    fallback: (req, res) => req.url?.startsWith(RUNNER_API_PREFIX + "/") ? void (res as ServerResponse).writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ code: "unimplemented", message: "no such procedure" })) : void restFallback(rest, model, url, req as IncomingMessage, res as ServerResponse).catch(() => (res as ServerResponse).writeHead(500).end()),
  });
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? "127.0.0.1", resolve));
  const addr = server.address() as { port: number };
  url = `http://${o.host ?? "127.0.0.1"}:${addr.port}`;
  return {
    url, kind, model, rpc, rest, hooks,
    async stop() {
      await hooks.settle();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
