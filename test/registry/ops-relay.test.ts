/**
 * The control plane's relay of the registry's overview (`GET /api/registry/usage|repositories`, for the
 * dashboard): the caller's own token decides what it sees (the registry filters), bad tokens stop at the
 * control plane, bad input comes back as the registry's 422, an oversized query is refused before it is
 * relayed, and a registry that does not answer (or none configured) is a 503 naming it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { RunningControlPlane } from "../../src/control/server.ts";
import { mintToken } from "../../src/auth/tokens.ts";
import { testControlPlane } from "../support/control.ts";
import { client, imageManifest } from "./support/http.ts";
import { admin, snapshot } from "./support/ops.ts";
import { SECRET, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
let control: RunningControlPlane;
let unset: RunningControlPlane;
const config = new TextEncoder().encode('{"os":"linux","relay":1}');

beforeAll(async () => {
  reg = await startTestRegistry();
  control = await testControlPlane({ natsUrl: reg.nats.url, authSecret: SECRET, webhookSecret: "relay-webhook-secret-0123456789", env: { NIMBUS_REGISTRY_URL: reg.url } });
  unset = await testControlPlane({ natsUrl: reg.nats.url, authSecret: SECRET, webhookSecret: "relay-webhook-secret-0123456789" });
  for (const org of ["acme", "globex"]) {
    const c = client(reg.url, await reg.token("org-admin", org));
    await c.pushBlob(`${org}/app`, config);
    expect((await c.putManifest(`${org}/app`, "v1", JSON.stringify(imageManifest(config, [])))).status).toBe(201);
  }
}, 30_000);
afterAll(async () => {
  await control?.stop();
  await unset?.stop();
  await reg?.cleanup();
});

describe("the registry relay", () => {
  test("each caller sees what the registry lets its token see; /api/info names the registry", async () => {
    const acme = await admin(control, await reg.token("viewer", "acme"), "GET", "/api/registry/repositories");
    expect(acme.status).toBe(200);
    expect(acme.body.repositories.map((r: any) => r.name)).toEqual(["acme/app"]);
    const all = await admin(control, await reg.token("operator"), "GET", "/api/registry/usage");
    expect(all.body.usage.map((u: any) => u.org)).toEqual(["acme", "globex"]);
    const one = await admin(control, await reg.token("operator"), "GET", "/api/registry/usage?org=globex");
    expect(one.body.usage.map((u: any) => u.org)).toEqual(["globex"]);
    expect((await admin(control, null, "GET", "/api/info")).body.registryUrl).toBe(reg.url);
    expect((await admin(unset, null, "GET", "/api/info")).body.registryUrl).toBeUndefined();
  });

  test("another org asked for is the registry's 403; bad tokens are 401 at the control plane; an agent's 403", async () => {
    const before = await snapshot(reg);
    const cross = await admin(control, await reg.token("member", "acme"), "GET", "/api/registry/usage?org=globex");
    expect(cross.status).toBe(403);
    expect(cross.body.message).toBe("a member token sees only its organisation acme");
    const forged = (await mintToken("w".repeat(40), { sub: "ops", role: "operator", ttlSeconds: 600 })).token;
    for (const t of [null, "garbage", forged]) expect((await admin(control, t, "GET", "/api/registry/repositories")).status).toBe(401);
    expect((await admin(control, await reg.token("agent", null), "GET", "/api/registry/usage")).status).toBe(403);
    expect(await snapshot(reg)).toEqual(before);
  });

  test("malformed input is the registry's 422 naming it; an oversized query is refused before it is relayed", async () => {
    const op = await reg.token("operator");
    const bad = await admin(control, op, "GET", "/api/registry/repositories?limit=0&limit=1");
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe("limit: given more than once");
    expect((await admin(control, op, "GET", "/api/registry/usage?org=Not_An_Org")).body.message).toStartWith("org: must be an organisation id");
    const long = await admin(control, op, "GET", `/api/registry/usage?x=${"y".repeat(3000)}`);
    expect(long.status).toBe(400);
    expect(long.body.message).toBe("the query is over 2048 characters");
  });

  test("no registry configured, or one that does not answer: 503 naming it", async () => {
    const op = await reg.token("operator");
    const none = await admin(unset, op, "GET", "/api/registry/usage");
    expect(none.status).toBe(503);
    expect(none.body.message).toBe("the control plane does not know the registry: set NIMBUS_REGISTRY_URL");
    const down = await testControlPlane({ natsUrl: reg.nats.url, authSecret: SECRET, webhookSecret: "relay-webhook-secret-0123456789", env: { NIMBUS_REGISTRY_URL: "http://127.0.0.1:9" } });
    try {
      const r = await admin(down, op, "GET", "/api/registry/repositories");
      expect(r.status).toBe(503);
      expect(r.body.message).toStartWith("the registry at http://127.0.0.1:9 cannot be reached");
      expect(JSON.stringify(r.body)).not.toContain(op);
    } finally {
      await down.stop();
    }
  });
});
