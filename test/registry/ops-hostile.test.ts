/**
 * Bad input on the registry's admin API: forged, expired, revoked and foreign credentials, tokens of
 * roles the routes refuse, malformed and oversized queries, parameters given twice or unknown,
 * bodies where none belongs, replays. Each is a clear error with the right status and a message
 * naming the problem, and the registry's data is the same afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mintToken } from "../../src/auth/tokens.ts";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import { BOOTSTRAP_ACTOR } from "../../src/auth/ledger.ts";
import { mintRegistryCredential } from "../../src/auth/registry-credential.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";
import { recordedToken } from "../support/tokens.ts";
import { waitFor } from "../support/net.ts";
import { client, imageManifest } from "./support/http.ts";
import { admin, snapshot } from "./support/ops.ts";
import { SECRET, startTestRegistry, type TestRegistry } from "./support/service.ts";

let reg: TestRegistry;
const config = new TextEncoder().encode('{"os":"linux","hostile":1}');
const jti = (t: string) => JSON.parse(Buffer.from(t.split(".")[1]!, "base64url").toString()).jti as string;

beforeAll(async () => {
  reg = await startTestRegistry();
  const c = client(reg.url, await reg.token("org-admin", "acme"));
  await c.pushBlob("acme/app", config);
  expect((await c.putManifest("acme/app", "v1", imageManifest(config, []))).status).toBe(201);
});
afterAll(() => reg?.cleanup());

const ROUTES: [string, string][] = [
  ["GET", "/v1/registry/repositories"],
  ["GET", "/v1/registry/tags?repo=acme/app"],
  ["GET", "/v1/registry/usage"],
  ["DELETE", "/v1/registry/repositories?repo=acme/app"],
  ["DELETE", "/v1/registry/tags?repo=acme/app&tag=v1"],
];

describe("credentials", () => {
  test("none, garbage, a wrong secret, alg:none, expired, revoked, a registry token and a job's credential: 401 on every route, nothing changed", async () => {
    const before = await snapshot(reg);
    const operator = await reg.token("operator");
    const forged = (await mintToken("w".repeat(40), { sub: "ops", role: "operator", ttlSeconds: 600, id: jti(operator) })).token;
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: "nimbus", aud: "nimbus", sub: "ops", jti: jti(operator), role: "operator", ver: 1, iat: now, exp: now + 600 })}.`;
    const expired = await recordedToken(reg.nats.url, SECRET, { sub: "late", role: "operator", ttlSeconds: 1 });
    const revoked = await recordedToken(reg.nats.url, SECRET, { sub: "gone", role: "operator", ttlSeconds: 600 });
    const nc = await connectNats({ url: reg.nats.url, name: "test-revoke" });
    await new TokenLedger(await ensureTokenLedger(nc)).revoke(jti(revoked), BOOTSTRAP_ACTOR);
    await nc.close();
    await waitFor(async () => (await admin(reg, revoked, "GET", "/v1/registry/usage")).status === 401, 10_000, "the registry to see the revocation");
    const basic = `Basic ${Buffer.from(`ci:${await reg.token("org-admin", "acme")}`).toString("base64")}`;
    const tokenRes = await fetch(`${reg.url}/v2/token?service=nimbus-registry&scope=repository:acme/app:pull,push,delete`, { headers: { authorization: basic } });
    const registryToken = ((await tokenRes.json()) as { token: string }).token;
    const job = await mintRegistryCredential(SECRET, { jobId: "j-hostile1", attempt: 1, org: "acme", ttlSeconds: 600 });
    await Bun.sleep(1100); // the 1 s token has expired
    const bad: [string, string | null][] = [["none", null], ["garbage", "not.a-token"], ["wrong secret", forged], ["alg none", none], ["expired", expired], ["revoked", revoked], ["registry token", registryToken], ["job credential", job]];
    const wrong: string[] = [];
    for (const [name, token] of bad)
      for (const [method, path] of ROUTES) {
        const r = await admin(reg, token, method, path);
        if (r.status !== 401 || r.body.code !== "unauthorized" || !r.body.message) wrong.push(`${name} ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      }
    expect(wrong).toEqual([]);
    expect(await snapshot(reg)).toEqual(before);
  });

  test("an agent token is refused by role (403), naming it", async () => {
    const agent = await reg.token("agent", null);
    for (const [method, path] of ROUTES) {
      const r = await admin(reg, agent, method, path);
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ code: "forbidden", message: "a agent token is not accepted here" });
    }
  });

  test("a viewer may read but not delete (403), and its own org only", async () => {
    const viewer = await reg.token("viewer", "acme");
    expect((await admin(reg, viewer, "DELETE", "/v1/registry/repositories?repo=acme/app")).status).toBe(403);
    expect((await admin(reg, viewer, "GET", "/v1/registry/repositories?org=globex")).status).toBe(403);
    expect((await admin(reg, await reg.token("viewer", "globex"), "GET", "/v1/registry/tags?repo=acme/app")).status).toBe(404);
  });
});

describe("malformed and oversized queries", () => {
  const cases: [string, string, number, string][] = [
    ["GET", "/v1/registry/tags", 422, "repo: is required (ORG/NAME)"],
    ["GET", "/v1/registry/tags?repo=ACME/App", 422, "repo: must be a repository name ORG/NAME"],
    ["GET", "/v1/registry/tags?repo=acme/../globex/app", 422, "repo: must be a repository name ORG/NAME"],
    ["GET", "/v1/registry/tags?repo=%2e%2e%2fetc%2fpasswd", 422, "repo: must be a repository name ORG/NAME"],
    ["GET", "/v1/registry/tags?repo=acme", 422, "repo: must be a repository name ORG/NAME"],
    ["GET", "/v1/registry/tags?repo=acme/_tags", 422, "repo: must be a repository name ORG/NAME"],
    ["GET", `/v1/registry/tags?repo=acme/${"a".repeat(300)}`, 422, "repo: must be at most 255 characters"],
    ["GET", "/v1/registry/tags?repo=acme/app&repo=globex/app", 422, "repo: given more than once"],
    ["GET", "/v1/registry/tags?repo=acme/app&all=1", 422, "all: not a parameter of this route (it takes repo)"],
    ["GET", "/v1/registry/repositories?limit=0", 422, "limit: must be at least 1"],
    ["GET", "/v1/registry/repositories?limit=abc", 422, "limit: must be a whole number from 1 to 10000"],
    ["GET", "/v1/registry/repositories?limit=99999", 422, "limit: must be at most 10000"],
    ["GET", "/v1/registry/repositories?org=Acme", 422, "org: must be an organisation id"],
    ["GET", "/v1/registry/usage?org=a_b", 422, "org: must be an organisation id"],
    ["GET", `/v1/registry/usage?x=${"y".repeat(3000)}`, 400, "the query is over 2048 characters"],
    ["DELETE", "/v1/registry/tags?repo=acme/app", 422, "tag: is required (the tag)"],
    ["DELETE", "/v1/registry/tags?repo=acme/app&tag=v1:latest", 422, "tag: must be a tag"],
    ["DELETE", "/v1/registry/tags?repo=acme/app&tag=..", 422, "tag: must be a tag"],
    ["DELETE", "/v1/registry/repositories", 422, "repo: is required (ORG/NAME)"],
    ["DELETE", "/v1/registry/repositories?repo=acme/app&repo=acme/other", 422, "repo: given more than once"],
  ];
  test("each is refused with its status and a message naming the parameter; nothing changes", async () => {
    const before = await snapshot(reg);
    const operator = await reg.token("operator");
    const wrong: string[] = [];
    for (const [method, path, status, message] of cases) {
      const r = await admin(reg, operator, method, path);
      if (r.status !== status || !String(r.body.message).startsWith(message)) wrong.push(`${method} ${path.slice(0, 80)}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
    expect(wrong).toEqual([]);
    expect(await snapshot(reg)).toEqual(before);
  });

  test("a body on a delete is refused before anything is removed", async () => {
    const before = await snapshot(reg);
    const r = await admin(reg, await reg.token("operator"), "DELETE", "/v1/registry/repositories?repo=acme/app", { body: JSON.stringify({ repo: "globex/app" }), headers: { "content-type": "application/json" } });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ code: "bad_request", message: "this route takes no request body" });
    expect(await snapshot(reg)).toEqual(before);
  });

  test("a replayed delete is a 404 that removes nothing more", async () => {
    const operator = await reg.token("operator");
    expect((await admin(reg, operator, "DELETE", "/v1/registry/tags?repo=acme/app&tag=v1")).status).toBe(200);
    const before = await snapshot(reg);
    const replay = await admin(reg, operator, "DELETE", "/v1/registry/tags?repo=acme/app&tag=v1");
    expect(replay.status).toBe(404);
    expect(replay.body).toEqual({ code: "not_found", message: "manifest v1 unknown to the repository" });
    expect(await snapshot(reg)).toEqual(before);
  });
});
