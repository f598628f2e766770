/**
 * The Docker token flow on the real registry service (src/registry/auth mounted by src/registry/app.ts):
 * the challenge names `/v2/token`, which trades a Nimbus token (Basic password) for a scoped registry
 * token that the distribution routes accept; scopes the caller may not have are left out and then
 * refused; the stand-in `GET /token` is gone; public orgs pull anonymously and nothing else does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { client, imageManifest } from "./support/http.ts";
import { seeded, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
const config = new TextEncoder().encode('{"os":"linux"}');
const layer = seeded("token-flow-layer", 2048);
const code = (r: { json(): any }) => r.json().errors[0].code;
const basic = (token: string) => `Basic ${Buffer.from(`ci:${token}`).toString("base64")}`;

async function registryToken(credential: string, ...scopes: string[]): Promise<{ status: number; token?: string }> {
  const q = new URLSearchParams({ service: "nimbus-registry" });
  for (const s of scopes) q.append("scope", s);
  const r = await client(reg.url).call("GET", `/v2/token?${q}`, { headers: { authorization: basic(credential) } });
  return { status: r.status, token: r.status === 200 ? r.json().token : undefined };
}

beforeAll(async () => {
  reg = await startTestRegistry({ publicOrgs: ["open"] });
  const admin = client(reg.url, await reg.token("org-admin", "acme"));
  await admin.pushBlob("acme/app", config);
  await admin.pushBlob("acme/app", layer);
  expect((await admin.putManifest("acme/app", "v1", imageManifest(config, [layer]))).status).toBe(201);
  const operator = client(reg.url, await reg.token("operator"));
  await operator.pushBlob("open/tools", config);
  expect((await operator.putManifest("open/tools", "v1", imageManifest(config, []))).status).toBe(201);
});
afterAll(() => reg.cleanup());

describe("the token flow on the registry", () => {
  test("a Nimbus token buys a scoped registry token at /v2/token, which pushes and pulls", async () => {
    const nimbus = await reg.token("member", "acme");
    const t = await registryToken(nimbus, "repository:acme/flow:pull,push");
    expect(t.status).toBe(200);
    expect(t.token).not.toBe(nimbus);
    const c = client(reg.url, t.token);
    await c.pushBlob("acme/flow", config);
    expect((await c.putManifest("acme/flow", "v1", imageManifest(config, []))).status).toBe(201);
    expect((await c.call("GET", "/v2/acme/flow/manifests/v1")).status).toBe(200);
  });

  test("a registry token holding only pull gets a 401 insufficient_scope challenge on push", async () => {
    const t = await registryToken(await reg.token("member", "acme"), "repository:acme/app:pull");
    const c = client(reg.url, t.token);
    expect((await c.call("GET", "/v2/acme/app/manifests/v1")).status).toBe(200);
    const push = await c.call("POST", "/v2/acme/app/blobs/uploads/");
    expect(push.status).toBe(401);
    expect(code(push)).toBe("UNAUTHORIZED");
    expect(push.headers.get("www-authenticate")).toBe(
      `Bearer realm="${reg.url}/v2/token",service="nimbus-registry",scope="repository:acme/app:pull,push",error="insufficient_scope"`,
    );
  });

  test("another org's credential gets a token without the scope, and the registry answers NAME_UNKNOWN", async () => {
    const t = await registryToken(await reg.token("org-admin", "globex"), "repository:acme/app:pull");
    expect(t.status).toBe(200);
    const r = await client(reg.url, t.token).call("GET", "/v2/acme/app/manifests/v1");
    expect(r.status).toBe(404);
    expect(code(r)).toBe("NAME_UNKNOWN");
  });

  test("a viewer's registry token is DENIED a push with the spec's code", async () => {
    const t = await registryToken(await reg.token("viewer", "acme"), "repository:acme/app:pull,push");
    const r = await client(reg.url, t.token).call("POST", "/v2/acme/app/blobs/uploads/");
    expect(r.status).toBe(403);
    expect(code(r)).toBe("DENIED");
  });

  test("a wrong password is refused by the token endpoint; the stand-in GET /token is gone", async () => {
    expect((await registryToken("not-a-token", "repository:acme/app:pull")).status).toBe(401);
    const old = await client(reg.url).call("GET", "/token", { headers: { authorization: basic(await reg.token("member", "acme")) } });
    expect(old.status).toBe(404);
  });

  test("a public org pulls anonymously (directly and with an anonymous token); pushes and other orgs get the challenge", async () => {
    const anon = client(reg.url);
    expect((await anon.call("GET", "/v2/open/tools/manifests/v1")).status).toBe(200);
    const t = await client(reg.url).call("GET", "/v2/token?service=nimbus-registry&scope=repository:open/tools:pull");
    expect(t.status).toBe(200);
    expect((await client(reg.url, t.json().token).call("GET", "/v2/open/tools/manifests/v1")).status).toBe(200);
    const push = await anon.call("POST", "/v2/open/tools/blobs/uploads/");
    expect(push.status).toBe(401);
    expect(push.headers.get("www-authenticate")).toContain('scope="repository:open/tools:pull,push"');
    const priv = await anon.call("GET", "/v2/acme/app/manifests/v1");
    expect(priv.status).toBe(401);
    expect(code(priv)).toBe("UNAUTHORIZED");
  });
});
