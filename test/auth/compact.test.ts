import { describe, expect, test } from "bun:test";
import { CompactEncrypt, SignJWT, compactDecrypt, jwtVerify } from "jose";
import { openDirA256Gcm, sealDirA256Gcm, signHs256 } from "../../src/auth/compact.ts";

const secret = "s".repeat(40);
const key = crypto.getRandomValues(new Uint8Array(32));
const enc = new TextEncoder();

describe("HS256 JWS", () => {
  test("is the string jose makes for the same claims, and jose verifies it", async () => {
    const claims = { role: "member", org: "acme", iss: "nimbus", aud: "nimbus-api", sub: "alice", jti: "t-1", iat: 1000, exp: 4_000_000_000 };
    const ours = signHs256(secret, claims);
    const theirs = await new SignJWT({ role: "member", org: "acme" })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer("nimbus").setAudience("nimbus-api").setSubject("alice").setJti("t-1").setIssuedAt(1000).setExpirationTime(4_000_000_000)
      .sign(enc.encode(secret));
    expect(ours).toBe(theirs);
    const { payload, protectedHeader } = await jwtVerify(ours, enc.encode(secret), { algorithms: ["HS256"], issuer: "nimbus", audience: "nimbus-api" });
    expect(protectedHeader).toEqual({ alg: "HS256", typ: "JWT" });
    expect(payload).toEqual(claims);
  });

  test("a raw-bytes key signs like the same bytes given to jose; another secret does not verify", async () => {
    const raw = crypto.getRandomValues(new Uint8Array(32));
    const t = signHs256(raw, { sub: "x", exp: 4_000_000_000 });
    expect((await jwtVerify(t, raw)).payload.sub).toBe("x");
    await expect(jwtVerify(t, enc.encode(secret))).rejects.toThrow();
  });
});

describe("dir + A256GCM JWE", () => {
  const plaintext = enc.encode(JSON.stringify({ secrets: { API: "v" } }));

  test("jose opens what is sealed here, with the header members kept", async () => {
    const jwe = sealDirA256Gcm(key, { kid: "k1", "nimbus.job": "j-1" }, plaintext);
    const opened = await compactDecrypt(jwe, key, { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] });
    expect(new TextDecoder().decode(opened.plaintext)).toBe(new TextDecoder().decode(plaintext));
    expect(opened.protectedHeader).toEqual({ alg: "dir", enc: "A256GCM", kid: "k1", "nimbus.job": "j-1" });
  });

  test("opens what jose seals; each seal has its own IV", async () => {
    const jwe = await new CompactEncrypt(plaintext).setProtectedHeader({ alg: "dir", enc: "A256GCM", kid: "k2" }).encrypt(key);
    const { plaintext: out, header } = openDirA256Gcm(key, jwe);
    expect(Buffer.from(out).equals(Buffer.from(plaintext))).toBe(true);
    expect(header.kid).toBe("k2");
    expect(sealDirA256Gcm(key, {}, plaintext)).not.toBe(sealDirA256Gcm(key, {}, plaintext));
  });

  test("a changed byte in any part, another key, or another form does not open", () => {
    const jwe = sealDirA256Gcm(key, { kid: "k1" }, plaintext);
    const parts = jwe.split(".");
    const flip = (i: number) => {
      const p = [...parts];
      const b = Buffer.from(p[i]!, "base64url");
      b[0]! ^= 1;
      p[i] = b.toString("base64url");
      return p.join(".");
    };
    for (const i of [0, 2, 3, 4]) expect(() => openDirA256Gcm(key, flip(i))).toThrow();
    expect(() => openDirA256Gcm(crypto.getRandomValues(new Uint8Array(32)), jwe)).toThrow();
    expect(() => openDirA256Gcm(key, parts.slice(0, 4).join("."))).toThrow("not a compact JWE");
    expect(() => openDirA256Gcm(key, [parts[0], "AAAA", ...parts.slice(2)].join("."))).toThrow("unsupported");
    const otherAlg = Buffer.from(JSON.stringify({ alg: "A256KW", enc: "A256GCM" })).toString("base64url");
    expect(() => openDirA256Gcm(key, [otherAlg, ...parts.slice(1)].join("."))).toThrow("not a dir/A256GCM JWE");
    const zipped = Buffer.from(JSON.stringify({ alg: "dir", enc: "A256GCM", zip: "DEF" })).toString("base64url");
    expect(() => openDirA256Gcm(key, [zipped, ...parts.slice(1)].join("."))).toThrow("unsupported");
    expect(() => openDirA256Gcm(key, "a.b.c d.e.f")).toThrow();
    expect(() => sealDirA256Gcm(new Uint8Array(16), {}, plaintext)).toThrow("32 bytes");
  });
});
