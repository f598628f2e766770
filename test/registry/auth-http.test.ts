/**
 * The registry's token endpoint and access check over HTTP, against a real nats-server holding the
 * token ledger: Basic auth with recorded Nimbus tokens, granted scopes per role and org, the POST
 * form and refresh tokens, and the tokens that must be refused (wrong password, revoked, expired,
 * alg:none, another service's audience, another kind of Nimbus JWT).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { startNats, type NatsServer } from "../support/nats.ts";
import { recordedToken } from "../support/tokens.ts";
import { waitFor } from "../support/net.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTokenLedger } from "../../src/nats/topology.ts";
import { TokenLedger } from "../../src/auth/ledger-store.ts";
import { BOOTSTRAP_ACTOR } from "../../src/auth/ledger.ts";
import { mintToken, verifyToken } from "../../src/auth/tokens.ts";
import { mintLogCredential } from "../../src/auth/log-credential.ts";
import { mintRegistryCredential } from "../../src/auth/registry-credential.ts";
import { mintRegistryToken, registryKey } from "../../src/registry/auth/token.ts";
import { SECRET, startTestRegistry, type TestRegistry } from "./auth-support.ts";

let nats: NatsServer;
let reg: TestRegistry;
let tokens: Record<string, string>;

const basic = (pw: string, user = "anyone") => `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}`;
const tokenUrl = (...scopes: string[]) => `${reg.url}/v2/token?service=nimbus-registry${scopes.map((s) => `&scope=${encodeURIComponent(s)}`).join("")}`;
async function getToken(auth: string | null, ...scopes: string[]) {
  const r = await fetch(tokenUrl(...scopes), { headers: auth ? { authorization: auth } : {} });
  return { status: r.status, body: (await r.json()) as any, challenge: r.headers.get("www-authenticate") };
}
const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString());
async function v2(path: string, token: string | null, method = "GET") {
  const r = await fetch(`${reg.url}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await r.text();
  return { status: r.status, code: text ? JSON.parse(text).errors?.[0]?.code : undefined, challenge: r.headers.get("www-authenticate") };
}

beforeAll(async () => {
  nats = await startNats();
  reg = await startTestRegistry(nats.url, { publicOrgs: ["open"] });
  const mint = (sub: string, role: any, org?: string) => recordedToken(nats.url, SECRET, { sub, role, org, ttlSeconds: 3600 });
  tokens = {
    operator: await mint("root", "operator"),
    adminA: await mint("ann", "org-admin", "acme"),
    memberA: await mint("bob", "member", "acme"),
    viewerA: await mint("vic", "viewer", "acme"),
    memberB: await mint("eve", "member", "other"),
    agent: await mint("agent-1", "agent"),
  };
}, 30_000);

afterAll(async () => {
  await reg?.stop();
  await nats?.stop();
});

describe("the challenge", () => {
  test("/v2/ anonymous: 401 with a challenge naming the token realm and the service, no scope", async () => {
    const r = await v2("/v2/", null);
    expect(r.status).toBe(401);
    expect(r.code).toBe("UNAUTHORIZED");
    expect(r.challenge).toBe(`Bearer realm="${reg.url}/v2/token",service="nimbus-registry"`);
  });

  test("a repository anonymous: the challenge names its scope; a public org's pull needs none", async () => {
    const r = await v2("/v2/acme/app/manifests/latest", null);
    expect(r.status).toBe(401);
    expect(r.challenge).toBe(`Bearer realm="${reg.url}/v2/token",service="nimbus-registry",scope="repository:acme/app:pull"`);
    expect((await v2("/v2/open/app/manifests/latest", null)).status).toBe(200);
    const push = await v2("/v2/open/app/manifests/latest", null, "PUT");
    expect(push.status).toBe(401);
    expect(push.challenge).toContain(`scope="repository:open/app:pull,push"`);
  });
});

describe("the token endpoint (GET, Basic auth)", () => {
  test("a member gets pull and push on its org, nothing on another org's; the token works and is refused past its grant", async () => {
    const r = await getToken(basic(tokens.memberA!), "repository:acme/app:pull,push,delete", "repository:other/app:pull");
    expect(r.status).toBe(200);
    expect(r.body.token).toBe(r.body.access_token);
    expect(r.body.expires_in).toBe(300);
    expect(Date.parse(r.body.issued_at)).toBeGreaterThan(0);
    const c = claims(r.body.token);
    expect(c.aud).toBe("nimbus-registry");
    expect(c.access).toEqual([{ type: "repository", name: "acme/app", actions: ["pull", "push"] }]);
    expect((await v2("/v2/acme/app/manifests/latest", r.body.token)).status).toBe(200);
    expect((await v2("/v2/acme/app/manifests/latest", r.body.token, "PUT")).status).toBe(202);
    expect(await v2("/v2/acme/app/manifests/latest", r.body.token, "DELETE")).toMatchObject({ status: 403, code: "DENIED" });
    expect(await v2("/v2/other/app/manifests/latest", r.body.token)).toMatchObject({ status: 404, code: "NAME_UNKNOWN" });
  });

  test("a token lacking a scope its caller could have gets a 401 naming the scope (the client asks again)", async () => {
    const r = await getToken(basic(tokens.memberA!), "repository:acme/app:pull");
    const other = await v2("/v2/acme/lib/manifests/latest", r.body.token);
    expect(other.status).toBe(401);
    expect(other.challenge).toContain(`scope="repository:acme/lib:pull",error="insufficient_scope"`);
  });

  test("roles: viewer pull, org-admin delete, operator everywhere, agent nothing", async () => {
    const all = ["repository:acme/app:*", "repository:other/x:*"];
    const access = async (t: string) => claims((await getToken(basic(t), ...all)).body.token).access;
    expect(await access(tokens.viewerA!)).toEqual([{ type: "repository", name: "acme/app", actions: ["pull"] }]);
    expect(await access(tokens.adminA!)).toEqual([{ type: "repository", name: "acme/app", actions: ["pull", "push", "delete"] }]);
    expect(await access(tokens.operator!)).toEqual([
      { type: "repository", name: "acme/app", actions: ["pull", "push", "delete"] },
      { type: "repository", name: "other/x", actions: ["pull", "push", "delete"] },
    ]);
    expect(await access(tokens.agent!)).toEqual([]);
  });

  test("anonymous: a token holding only public pulls; account= is accepted; refresh token on offline_token", async () => {
    const r = await getToken(null, "repository:open/app:pull,push", "repository:acme/app:pull");
    expect(r.status).toBe(200);
    expect(claims(r.body.token).access).toEqual([{ type: "repository", name: "open/app", actions: ["pull"] }]);
    expect(r.body.refresh_token).toBeUndefined();
    expect((await v2("/v2/open/app/manifests/latest", r.body.token)).status).toBe(200);
    expect((await v2("/v2/acme/app/manifests/latest", r.body.token)).status).toBe(401);
    const off = await fetch(`${tokenUrl("repository:acme/app:pull")}&account=bob&offline_token=true`, { headers: { authorization: basic(tokens.memberA!, "bob") } });
    expect(off.status).toBe(200);
    expect(((await off.json()) as any).refresh_token).toBeString();
  });

  test("a Nimbus token directly as the bearer (CLI use) passes the same checks", async () => {
    expect((await v2("/v2/", tokens.viewerA!)).status).toBe(200);
    expect((await v2("/v2/acme/app/manifests/latest", tokens.viewerA!)).status).toBe(200);
    expect(await v2("/v2/acme/app/manifests/latest", tokens.viewerA!, "PUT")).toMatchObject({ status: 403, code: "DENIED" });
    expect(await v2("/v2/other/app/manifests/latest", tokens.viewerA!)).toMatchObject({ status: 404, code: "NAME_UNKNOWN" });
    expect(await v2("/v2/acme/app/manifests/latest", tokens.agent!)).toMatchObject({ status: 404, code: "NAME_UNKNOWN" });
  });

  test("bad requests: another service, malformed or traversing scopes, too many scopes, a huge account", async () => {
    const other = await fetch(`${reg.url}/v2/token?service=evil&scope=repository:acme/app:pull`, { headers: { authorization: basic(tokens.memberA!) } });
    expect(other.status).toBe(400);
    expect((await getToken(basic(tokens.memberA!), "repository:../../etc:pull")).body.errors[0].code).toBe("NAME_INVALID");
    expect((await getToken(basic(tokens.memberA!), "nonsense")).status).toBe(400);
    const many = Array.from({ length: 100 }, (_, i) => `repository:acme/r${i}:pull`);
    expect((await getToken(basic(tokens.memberA!), ...many)).status).toBe(400);
    const huge = await fetch(`${tokenUrl()}&account=${"x".repeat(5000)}`, { headers: { authorization: basic(tokens.memberA!) } });
    expect(huge.status).toBe(400);
    const big = await fetch(`${tokenUrl()}&pad=${"x".repeat(9000)}`);
    expect(big.status).toBe(413);
  });
});

describe("refused credentials", () => {
  const refused = async (auth: string) => {
    const r = await getToken(auth, "repository:acme/app:pull");
    expect(r.status).toBe(401);
    expect(r.body.errors[0].code).toBe("UNAUTHORIZED");
    expect(r.body.token).toBeUndefined();
    return r;
  };

  test("a wrong password, garbage, an unrecorded token, a malformed header", async () => {
    expect((await refused(basic("not-a-token"))).challenge).toBe(`Basic realm="nimbus-registry"`);
    await refused(basic(tokens.memberA!.slice(0, -4) + "AAAA"));
    await refused(basic((await mintToken(SECRET, { sub: "ghost", role: "member", org: "acme", ttlSeconds: 60 })).token));
    await refused("Basic %%%");
    await refused(basic(tokens.memberA!, "").replace("Basic ", "Basic x"));
  });

  test("signed with another secret, alg:none, another audience (a log credential), expired", async () => {
    await refused(basic((await mintToken("another-secret-another-secret-0123456789", { sub: "bob", role: "member", org: "acme", ttlSeconds: 60 })).token));
    const payload = claims(tokens.memberA!);
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.`;
    await refused(basic(none));
    await refused(basic(await mintLogCredential(SECRET, { jobId: "j-1", attempt: 1, agentId: "agent-1", org: "acme", ttlSeconds: 60 })));
    const expired = await new SignJWT({ ...payload, exp: Math.floor(Date.now() / 1000) - 10 }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(SECRET));
    expect((await refused(basic(expired))).body.errors[0].message).toContain("expired");
  });

  test("registry tokens: alg:none, expired, signed with the Nimbus secret itself, for another audience", async () => {
    const good = (await getToken(basic(tokens.memberA!), "repository:acme/app:pull")).body.token as string;
    const c = claims(good);
    const none = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify(c)).toString("base64url")}.`;
    const raw = new TextEncoder().encode(SECRET);
    const key = registryKey(SECRET);
    const forged = [
      none,
      await new SignJWT({ ...c, exp: Math.floor(Date.now() / 1000) - 5 }).setProtectedHeader({ alg: "HS256" }).sign(key),
      await new SignJWT(c).setProtectedHeader({ alg: "HS256" }).sign(raw),
      await new SignJWT({ ...c, aud: "some-other-registry" }).setProtectedHeader({ alg: "HS256" }).sign(key),
      tokens.memberA!.split(".").slice(0, 2).join(".") + "." + good.split(".")[2],
    ];
    for (const t of forged) {
      const r = await v2("/v2/acme/app/manifests/latest", t);
      expect(r.status).toBe(401);
      expect(r.challenge).toContain(`error="invalid_token"`);
    }
    // A registry token is not a Nimbus token either.
    await expect(verifyToken(SECRET, good)).rejects.toMatchObject({ code: "unauthorized" });
  });

  test("a Nimbus token revoked in the ledger: the registry token it bought is refused on its next use", async () => {
    const t = await recordedToken(nats.url, SECRET, { sub: "leaver", role: "member", org: "acme", ttlSeconds: 3600 });
    const r = await getToken(basic(t), "repository:acme/app:pull");
    const refresh = (await (await fetch(`${tokenUrl()}&offline_token=true`, { headers: { authorization: basic(t) } })).json()) as any;
    expect((await v2("/v2/acme/app/manifests/latest", r.body.token)).status).toBe(200);
    const nc = await connectNats({ url: nats.url, token: "", name: "revoker" });
    await new TokenLedger(await ensureTokenLedger(nc)).revoke((await verifyToken(SECRET, t)).tokenId, BOOTSTRAP_ACTOR);
    await nc.close();
    await waitFor(async () => (await v2("/v2/acme/app/manifests/latest", r.body.token)).status === 401, 5000, "revocation reaches the registry");
    expect((await getToken(basic(t), "repository:acme/app:pull")).status).toBe(401);
    const viaRefresh = await fetch(`${reg.url}/v2/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh.refresh_token, service: "nimbus-registry", client_id: "test" }) });
    expect(viaRefresh.status).toBe(401);
  });

  test("a registry token never outlives the Nimbus token behind it", async () => {
    const t = await recordedToken(nats.url, SECRET, { sub: "brief", role: "member", org: "acme", ttlSeconds: 20 });
    const r = await getToken(basic(t), "repository:acme/app:pull");
    expect(r.body.expires_in).toBeLessThanOrEqual(20);
    expect(claims(r.body.token).exp).toBe(claims(t).exp);
  });

  test("a minted registry token with forged access beyond its caller's role is still refused by role", async () => {
    const key = registryKey(SECRET);
    const v = await verifyToken(SECRET, tokens.viewerA!);
    const { token } = await mintRegistryToken(key, { principal: v, bound: { tokenId: v.tokenId, version: v.version }, exp: v.exp }, [{ type: "repository", name: "acme/app", actions: ["pull", "push", "delete"] }], 300);
    expect(await v2("/v2/acme/app/manifests/latest", token, "DELETE")).toMatchObject({ status: 403, code: "DENIED" });
  });
});

describe("the POST form (OAuth2)", () => {
  const post = (form: Record<string, string | string[]>, type = "application/x-www-form-urlencoded") => {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const x of [v].flat()) body.append(k, x);
    return fetch(`${reg.url}/v2/token`, { method: "POST", headers: { "content-type": type }, body });
  };

  test("password grant with space-separated scopes, then a refresh_token grant", async () => {
    const r = await post({ grant_type: "password", username: "bob", password: tokens.memberA!, service: "nimbus-registry", client_id: "containerd", access_type: "offline", scope: "repository:acme/app:pull,push repository:other/app:pull" });
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    expect(body.scope).toBe("repository:acme/app:pull,push");
    expect(claims(body.access_token).access).toEqual([{ type: "repository", name: "acme/app", actions: ["pull", "push"] }]);
    expect(body.refresh_token).toBeString();
    const again = await post({ grant_type: "refresh_token", refresh_token: body.refresh_token, service: "nimbus-registry", client_id: "containerd", scope: "repository:acme/lib:pull" });
    expect(again.status).toBe(200);
    expect(claims(((await again.json()) as any).access_token).access).toEqual([{ type: "repository", name: "acme/lib", actions: ["pull"] }]);
  });

  test("refusals: wrong password, unknown grant, a registry token as refresh token, wrong content type, an oversized chunked form", async () => {
    const wrong = await post({ grant_type: "password", username: "bob", password: "nope", service: "nimbus-registry", client_id: "x" });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as any).error).toBe("invalid_grant");
    expect((await post({ grant_type: "authorization_code", code: "x" })).status).toBe(400);
    const access = (await getToken(basic(tokens.memberA!), "repository:acme/app:pull")).body.token;
    expect((await post({ grant_type: "refresh_token", refresh_token: access })).status).toBe(401);
    expect((await post({ grant_type: "password", password: tokens.memberA! }, "application/json")).status).toBe(400);
    const chunks = new ReadableStream({
      start(c) {
        for (let i = 0; i < 64; i++) c.enqueue(new TextEncoder().encode("x".repeat(1024)));
        c.close();
      },
    });
    const big = await fetch(`${reg.url}/v2/token`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: chunks });
    expect(big.status).toBe(413);
  });

  test("a job's registry credential: pull and push on its org, nothing elsewhere; expired is refused", async () => {
    const cred = await mintRegistryCredential(SECRET, { jobId: "j-abc", attempt: 1, org: "acme", ttlSeconds: 600 });
    const r = await post({ grant_type: "password", username: "nimbus-job", password: cred, scope: "repository:acme/app:pull,push,delete repository:other/app:pull" });
    const body = (await r.json()) as any;
    expect(claims(body.access_token).access).toEqual([{ type: "repository", name: "acme/app", actions: ["pull", "push"] }]);
    expect(body.expires_in).toBe(300);
    const old = await new SignJWT({ job: "j-abc", att: 1, org: "acme" }).setProtectedHeader({ alg: "HS256" }).setIssuer("nimbus").setAudience("nimbus-registry-credential").setSubject("job:j-abc").setExpirationTime(Math.floor(Date.now() / 1000) - 5).sign(new TextEncoder().encode(SECRET));
    expect((await getToken(basic(old), "repository:acme/app:pull")).status).toBe(401);
  });
});
