/**
 * Registry operations under the supervisor (the stack `nimbus up` runs): the registry's own NATS user
 * reads the org limits (the quota an operator sets through the API shows in usage) and appends to the
 * audit stream (a `nimbus registry rm` is in `GET /api/audit`); the CLI finds the registry through
 * the control plane's /api/info; `nimbus status` shows the registry.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";
import { client, imageManifest } from "./support/http.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
let s: TestStack;
const config = new TextEncoder().encode('{"os":"linux","up":1}');

async function nimbus(token: string, ...args: string[]) {
  const env = { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: token, NIMBUS_DATA_DIR: "/nonexistent-nimbus" } as Record<string, string>;
  delete env.NIMBUS_REGISTRY_URL;
  const p = Bun.spawn([BIN, ...args], { env, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

beforeAll(async () => {
  s = await testStack({ agents: 0 });
}, 60_000);
afterAll(() => s?.destroy(), 30_000);

test("quota from the limits, an audited rm through the CLI, and the registry in nimbus status", async () => {
  const orgAdmin = await s.token({ sub: "ops-admin", role: "org-admin", org: "acme", ttlSeconds: 600 });
  const c = client(s.registryUrl, orgAdmin);
  await c.pushBlob("acme/app", config);
  expect((await c.putManifest("acme/app", "v1", JSON.stringify(imageManifest(config, [])))).status).toBe(201);

  expect((await s.api("/api/orgs/acme/limits", { method: "PUT", json: { registryBytes: 100 } })).status).toBe(200);
  await waitFor(async () => {
    const u = JSON.parse((await nimbus(orgAdmin, "registry", "usage", "--json")).out);
    return u.usage[0]?.quotaBytes === 100;
  }, 10_000, "the registry to read acme's quota");
  const usage = await nimbus(orgAdmin, "registry", "usage");
  expect(usage.code).toBe(0);
  expect(usage.out).toMatch(/^acme +1 +2 +\d+ B +100 B \(OVER\)$/m);

  const rm = await nimbus(orgAdmin, "registry", "rm", "acme/app:v1");
  expect(rm).toMatchObject({ code: 0, err: "" });
  expect(rm.out).toStartWith("deleted tag acme/app:v1 (it named sha256:");
  const audit = await fetch(`${s.controlUrl}/api/audit?org=acme`, { headers: { authorization: `Bearer ${orgAdmin}` } });
  const records = (await audit.text()).trim().split("\n").map((l) => JSON.parse(l));
  expect(records.filter((r) => r.action === "registry.delete").map((r) => [r.actor.sub, r.target, r.outcome, r.detail.tag])).toEqual([["ops-admin", "acme/app", "ok", "v1"]]);

  const status = await nimbus(s.adminToken, "status", "--json");
  const st = JSON.parse(status.out);
  expect(st.services.find((x: any) => x.service === "registry")).toEqual({ service: "registry", url: s.registryUrl, healthy: true });
  expect(st.registry).toMatchObject({ repositories: 1, orgs: 1 });
  const text = await nimbus(orgAdmin, "status");
  expect(text.out).toMatch(/^registry +healthy +http/m);
  expect(text.out).toMatch(/^registry: 1 repository, \d+ B \(acme's\)$/m);
}, 60_000);
