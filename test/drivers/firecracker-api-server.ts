/**
 * Stands in for Firecracker's API on a real unix socket, since Firecracker cannot run without KVM:
 * every request is checked against the swagger description; valid ones get what Firecracker
 * answers (204, or InstanceInfo for GET /), invalid ones 400 with a fault_message. It records the
 * requests so tests can assert the sequence the driver sent.
 */
import { validateRequest, type SwaggerSpec } from "./swagger.ts";

export interface SeenRequest {
  method: string;
  path: string;
  body?: unknown;
  errors: string[];
}

export function serveFirecrackerApi(socket: string, spec: SwaggerSpec) {
  const seen: SeenRequest[] = [];
  let state = "Not started";
  const server = Bun.serve({
    unix: socket,
    async fetch(req) {
      const url = new URL(req.url);
      const text = await req.text();
      const body = text ? JSON.parse(text) : undefined;
      const errors = validateRequest(spec, req.method, url.pathname, body);
      seen.push({ method: req.method, path: url.pathname, body, errors });
      if (errors.length) return Response.json({ fault_message: errors.join("; ") }, { status: 400 });
      if (req.method === "GET" && url.pathname === "/") return Response.json({ app_name: "Firecracker", id: "nimbus-test", state, vmm_version: "1.16.1" });
      if (url.pathname === "/actions" && body?.action_type === "InstanceStart") state = "Running";
      if (url.pathname === "/vm") state = body.state === "Paused" ? "Paused" : "Running";
      if (url.pathname === "/snapshot/load" && body.resume_vm) state = "Running";
      return new Response(null, { status: 204 });
    },
  });
  return { seen, stop: () => server.stop(true) };
}
