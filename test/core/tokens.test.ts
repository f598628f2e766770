import { expect, test } from "bun:test";
import { SignJWT, UnsecuredJWT } from "jose";
import { mintToken, parseTtl, verifyToken } from "../../src/auth/tokens.ts";
import { authorize, listingOrg, seesOrg, type Principal } from "../../src/auth/principal.ts";

const SECRET = "x".repeat(40);
const key = new TextEncoder().encode(SECRET);

test("a token carries its id, subject, role, organisation and version; agent tokens their agent id", async () => {
  const m = await mintToken(SECRET, { sub: "alice", role: "member", org: "acme", ttlSeconds: 60 });
  expect(m.id).toMatch(/^t-[a-z0-9]{26}$/);
  expect(await verifyToken(SECRET, m.token)).toMatchObject({ tokenId: m.id, sub: "alice", role: "member", org: "acme", version: 1 });
  const a = await mintToken(SECRET, { sub: "agent-1", role: "agent", ttlSeconds: 60 });
  expect(await verifyToken(SECRET, a.token)).toMatchObject({ role: "agent", org: null, agentId: "agent-1" });
  const s = await mintToken(SECRET, { sub: "deploy-bot", role: "viewer", org: "acme", service: true, ttlSeconds: 60 });
  expect((await verifyToken(SECRET, s.token)).service).toBe(true);
});

test("requests that make no sense are refused before signing", async () => {
  await expect(mintToken(SECRET, { sub: "a", role: "member", ttlSeconds: 60 })).rejects.toThrow("needs an organisation id");
  await expect(mintToken(SECRET, { sub: "a", role: "operator", org: "acme", ttlSeconds: 60 })).rejects.toThrow("belongs to no organisation");
  await expect(mintToken(SECRET, { sub: "a", role: "member", org: "Acme Corp", ttlSeconds: 60 })).rejects.toThrow("organisation id");
  await expect(mintToken(SECRET, { sub: "a", role: "root" as never, ttlSeconds: 60 })).rejects.toThrow("role must be one of");
  await expect(mintToken(SECRET, { sub: "", role: "operator", ttlSeconds: 60 })).rejects.toThrow("subject");
});

test("missing, forged, expired, unsigned and foreign tokens are refused with a reason", async () => {
  await expect(verifyToken(SECRET, undefined)).rejects.toThrow("missing bearer token");
  const forged = await mintToken("y".repeat(40), { sub: "admin", role: "operator", ttlSeconds: 60 });
  await expect(verifyToken(SECRET, forged.token)).rejects.toThrow("invalid token");
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({ role: "operator" }).setProtectedHeader({ alg: "HS256" }).setIssuer("nimbus").setAudience("nimbus").setSubject("admin").setJti("t-x").setIssuedAt(now - 100).setExpirationTime(now - 10).sign(key);
  await expect(verifyToken(SECRET, expired)).rejects.toThrow("token expired");
  const none = new UnsecuredJWT({ role: "operator" }).setIssuer("nimbus").setAudience("nimbus").setSubject("admin").setJti("t-x").setExpirationTime(now + 60).encode();
  await expect(verifyToken(SECRET, none)).rejects.toThrow("invalid token");
  const oldAdmin = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer("nimbus").setAudience("nimbus-admin").setSubject("admin").setJti("t-x").setExpirationTime(now + 60).sign(key);
  await expect(verifyToken(SECRET, oldAdmin)).rejects.toThrow("not a Nimbus token");
  const noRole = await new SignJWT({ role: "member" }).setProtectedHeader({ alg: "HS256" }).setIssuer("nimbus").setAudience("nimbus").setSubject("a").setJti("t-x").setExpirationTime(now + 60).sign(key);
  await expect(verifyToken(SECRET, noRole)).rejects.toThrow("no valid role and organisation");
  await expect(verifyToken(SECRET, "garbage")).rejects.toThrow("invalid token");
});

test("authorize: another org's resource is not found, a missing grant forbidden; operators see every org", () => {
  const member: Principal = { tokenId: "t-1", sub: "alice", role: "member", org: "acme" };
  const viewer: Principal = { ...member, role: "viewer" };
  const op: Principal = { tokenId: "t-2", sub: "admin", role: "operator", org: null };
  expect(() => authorize(member, "jobs:read", { org: "acme", what: "job j-1" })).not.toThrow();
  expect(() => authorize(member, "jobs:read", { org: "globex", what: "job j-1" })).toThrow("job j-1 not found");
  expect(() => authorize(viewer, "jobs:submit")).toThrow("a viewer token may not jobs submit");
  expect(() => authorize(member, "tokens:mint")).toThrow("may not tokens mint");
  expect(() => authorize(op, "jobs:cancel", { org: "globex", what: "job j-1" })).not.toThrow();
  expect(seesOrg(member, undefined)).toBe(false);
  expect(listingOrg(op)).toBeNull();
  expect(listingOrg(op, "globex")).toBe("globex");
  expect(listingOrg(member)).toBe("acme");
  expect(() => listingOrg(member, "globex")).toThrow("sees only its organisation acme");
});

test("durations", () => {
  expect(parseTtl("30d")).toBe(30 * 86400);
  expect(parseTtl("90")).toBe(90);
  expect(() => parseTtl("soon")).toThrow("invalid duration");
});

test("a token verified once is still refused once it expires, and under another secret (the verification cache keeps neither)", async () => {
  const short = await mintToken(SECRET, { sub: "ops", role: "operator", ttlSeconds: 1 });
  expect((await verifyToken(SECRET, short.token)).sub).toBe("ops");
  expect((await verifyToken(SECRET, short.token)).sub).toBe("ops"); // the second answer comes from the cache
  await expect(verifyToken("z".repeat(40), short.token)).rejects.toThrow("invalid token");
  // exp is whole seconds: past it, the cached answer is refused as jose would refuse the token.
  await Bun.sleep((short.expiresAt + 1) * 1000 - Date.now());
  await expect(verifyToken(SECRET, short.token)).rejects.toThrow("token expired");
  await expect(verifyToken(SECRET, short.token)).rejects.toThrow("token expired");
});

test("a cached verification hands out a copy: a caller changing its answer changes no later one", async () => {
  const m = await mintToken(SECRET, { sub: "alice", role: "member", org: "acme", ttlSeconds: 60 });
  const first = await verifyToken(SECRET, m.token);
  first.role = "operator";
  first.org = null;
  expect(await verifyToken(SECRET, m.token)).toMatchObject({ role: "member", org: "acme" });
});
