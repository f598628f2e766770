/**
 * NATS decentralized auth (nats-server 2.9 `operator` mode), the way agents on other hosts get NATS
 * credentials without anyone editing the server's config: an operator key signs one account, the
 * account's key (held by the control plane) signs short-lived user JWTs, each carrying exactly the
 * permissions src/nats/permissions.ts gives that process kind or agent. The server only needs the
 * operator and account JWTs (`resolver: MEMORY`, preloaded); users are never listed in its config.
 *
 * A JWT here is the nats-io/jwt v2 format: base64url(header).base64url(claims).base64url(ed25519
 * signature by the issuer's nkey over the first two parts).
 */
import { createHash } from "node:crypto";
import { createAccount, createOperator, createUser, fromPublic, fromSeed, type KeyPair } from "@nats-io/nkeys";
import type { Permissions } from "./permissions.ts";

const b64url = (b: Uint8Array | string) => Buffer.from(typeof b === "string" ? new TextEncoder().encode(b) : b).toString("base64url");
const HEADER = b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
const base32 = (b: Uint8Array) => {
  const A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0, out = "";
  for (const x of b) {
    value = (value << 8) | x;
    bits += 8;
    while (bits >= 5) out += A[(value >>> (bits -= 5)) & 31];
  }
  return bits > 0 ? out + A[(value << (5 - bits)) & 31] : out;
};

function sign(issuer: KeyPair, claims: Record<string, unknown>): string {
  const body = { ...claims, jti: "" };
  body.jti = base32(createHash("sha256").update(JSON.stringify(body)).digest());
  const payload = b64url(JSON.stringify(body));
  return `${HEADER}.${payload}.${b64url(issuer.sign(new TextEncoder().encode(`${HEADER}.${payload}`)))}`;
}

/** The claims of a JWT, its signature checked against the issuer it names (null: not a valid JWT). */
export function verifyJwt(jwt: string): Record<string, any> | null {
  const parts = jwt.split(".");
  if (parts.length !== 3 || parts[0] !== HEADER) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
    if (typeof claims?.iss !== "string") return null;
    return fromPublic(claims.iss).verify(new TextEncoder().encode(`${parts[0]}.${parts[1]}`), Buffer.from(parts[2]!, "base64url")) ? claims : null;
  } catch {
    return null;
  }
}

const UNLIMITED = { subs: -1, data: -1, payload: -1 };

export interface NatsTrust {
  /** The operator's and the accounts' JWTs: all the server needs. */
  operatorJwt: string;
  accountPublic: string;
  accountJwt: string;
  systemAccountPublic: string;
  systemAccountJwt: string;
  /** Seeds (secret): the operator's (to re-sign the account) and the account's (to mint users). */
  operatorSeed: string;
  accountSeed: string;
}

/** A new operator, the Nimbus account (JetStream enabled, no limits) and a system account. */
export function newTrust(now = Date.now()): NatsTrust {
  const op = createOperator();
  const acct = createAccount();
  const sys = createAccount();
  const iat = Math.floor(now / 1000);
  const account = (kp: KeyPair, name: string, jetstream: boolean) =>
    sign(op, {
      iat, iss: op.getPublicKey(), name, sub: kp.getPublicKey(),
      nats: {
        type: "account", version: 2,
        limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, ...(jetstream ? { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : {}) },
        default_permissions: { pub: {}, sub: {} },
      },
    });
  return {
    operatorJwt: sign(op, { iat, iss: op.getPublicKey(), name: "nimbus", sub: op.getPublicKey(), nats: { type: "operator", version: 2, system_account: sys.getPublicKey() } }),
    accountPublic: acct.getPublicKey(),
    accountJwt: account(acct, "nimbus", true),
    systemAccountPublic: sys.getPublicKey(),
    systemAccountJwt: account(sys, "system", false),
    operatorSeed: new TextDecoder().decode(op.getSeed()),
    accountSeed: new TextDecoder().decode(acct.getSeed()),
  };
}

/** The nats-server config lines that trust this operator (in place of an `authorization` block). */
export function operatorConfig(t: Pick<NatsTrust, "operatorJwt" | "accountPublic" | "accountJwt" | "systemAccountPublic" | "systemAccountJwt">): string {
  return `operator: ${t.operatorJwt}\nsystem_account: ${t.systemAccountPublic}\nresolver: MEMORY\nresolver_preload: {\n  ${t.accountPublic}: ${t.accountJwt}\n  ${t.systemAccountPublic}: ${t.systemAccountJwt}\n}\n`;
}

export interface UserCredentials {
  jwt: string;
  /** The user's nkey seed (secret): it proves the connection holds the key the JWT names. */
  seed: string;
  expiresAt: number;
}

/**
 * A user JWT signed by the account: `permissions` absent means every subject (the control plane's
 * user), else exactly those allow-lists. Expires after `ttlMs` (the server disconnects the user then;
 * a client with a renewing authenticator reconnects with a fresh one).
 */
export function mintUser(accountSeed: string, name: string, permissions: Permissions | undefined, ttlMs: number, now = Date.now(), userSeed?: string): UserCredentials {
  const user = userSeed ? fromSeed(new TextEncoder().encode(userSeed)) : createUser();
  return { ...userJwt(accountSeed, name, user.getPublicKey(), permissions, ttlMs, now), seed: new TextDecoder().decode(user.getSeed()) };
}

/** A user JWT for a key whose seed stays with its holder (an agent sends only its public key). */
export function userJwt(accountSeed: string, name: string, userPublic: string, permissions: Permissions | undefined, ttlMs: number, now = Date.now()): { jwt: string; expiresAt: number } {
  if (!isUserPublicKey(userPublic)) throw new Error("not a NATS user public key");
  const acct = fromSeed(new TextEncoder().encode(accountSeed));
  const iat = Math.floor(now / 1000);
  const exp = Math.floor((now + ttlMs) / 1000);
  const perms = permissions ? { pub: { allow: permissions.publish.allow }, sub: { allow: permissions.subscribe.allow } } : { pub: {}, sub: {} };
  const jwt = sign(acct, { iat, exp, iss: acct.getPublicKey(), name, sub: userPublic, nats: { type: "user", version: 2, ...UNLIMITED, ...perms } });
  return { jwt, expiresAt: exp * 1000 };
}

/** A NATS user's public nkey (`U…`, 56 characters, checksum intact). */
export function isUserPublicKey(k: unknown): k is string {
  if (typeof k !== "string" || k.length !== 56 || !k.startsWith("U")) return false;
  try {
    fromPublic(k);
    return true;
  } catch {
    return false;
  }
}

/** Whether a string is an account seed (`SA…`) nkeys accepts. */
export function isAccountSeed(s: string): boolean {
  if (!s.startsWith("SA")) return false;
  try {
    return fromSeed(new TextEncoder().encode(s)).getPublicKey().startsWith("A");
  } catch {
    return false;
  }
}
