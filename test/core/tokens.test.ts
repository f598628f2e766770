import { expect, test } from "bun:test";
import { SignJWT } from "jose";
import { mintToken, parseTtl, verifyToken } from "../../src/auth/tokens.ts";

const SECRET = "x".repeat(40);

test("admin tokens verify only as admin, and only for allowed subjects", async () => {
  const admin = await mintToken(SECRET, "admin", "alice", 60);
  expect((await verifyToken(SECRET, admin, "admin", ["alice"])).sub).toBe("alice");
  await expect(verifyToken(SECRET, admin, "admin", ["bob"])).rejects.toThrow("not on the admin allow-list");
  await expect(verifyToken(SECRET, admin, "agent")).rejects.toThrow("not an agent token");
  const agent = await mintToken(SECRET, "agent", "agent-1", 60);
  await expect(verifyToken(SECRET, agent, "admin", ["agent-1"])).rejects.toThrow("not an admin token");
});

test("missing, forged and expired tokens are refused with a reason", async () => {
  await expect(verifyToken(SECRET, undefined, "admin", ["admin"])).rejects.toThrow("missing bearer token");
  const forged = await mintToken("y".repeat(40), "admin", "admin", 60);
  await expect(verifyToken(SECRET, forged, "admin", ["admin"])).rejects.toThrow("invalid token");
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer("nimbus").setAudience("nimbus-admin").setSubject("admin").setIssuedAt(now - 100).setExpirationTime(now - 10).sign(new TextEncoder().encode(SECRET));
  await expect(verifyToken(SECRET, expired, "admin", ["admin"])).rejects.toThrow("token expired");
});

test("durations", () => {
  expect(parseTtl("30d")).toBe(30 * 86400);
  expect(parseTtl("90")).toBe(90);
  expect(() => parseTtl("soon")).toThrow("invalid duration");
});
