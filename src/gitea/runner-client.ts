/**
 * A client of a forge's runner API (`<instance>/api/actions`, Connect RPC): Register without
 * credentials, every other call with x-runner-uuid / x-runner-token, as act_runner sends them.
 * Binary protobuf by default (act_runner's encoding); Connect JSON on request.
 */
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { PingService } from "./gen/ping/v1/services_pb.ts";
import { RunnerService } from "./gen/runner/v1/services_pb.ts";

export interface RunnerCredentials {
  uuid: string;
  token: string;
}

export interface RunnerClients {
  runner: Client<typeof RunnerService>;
  ping: Client<typeof PingService>;
}

export const runnerApiUrl = (instanceUrl: string) => `${instanceUrl.replace(/\/+$/, "")}/api/actions`;

export function runnerClients(instanceUrl: string, o: { credentials?: RunnerCredentials; json?: boolean; version?: string; timeoutMs?: number } = {}): RunnerClients {
  const headers: Interceptor = (next) => async (req) => {
    if (o.credentials) {
      req.header.set("x-runner-uuid", o.credentials.uuid);
      req.header.set("x-runner-token", o.credentials.token);
    }
    if (o.version) req.header.set("x-runner-version", o.version);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: runnerApiUrl(instanceUrl),
    httpVersion: "1.1",
    useBinaryFormat: !o.json,
    interceptors: [headers],
    defaultTimeoutMs: o.timeoutMs ?? 15_000,
  });
  return { runner: createClient(RunnerService, transport), ping: createClient(PingService, transport) };
}
