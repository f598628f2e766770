/**
 * Answers on a shared bus that only their asker can read, at the cost of one AES-GCM operation each.
 *
 * The asker (an agent) holds an ECDH P-256 key pair, made in its process and replaced every
 * `ROTATE_MS`; it sends the public half, with a key id, in each request. The answerer (a control
 * plane replica) holds one P-256 key pair per process. Each side derives the pair's shared
 * 256-bit key once (ECDH, then SHA-256 over the shared secret, a label and both public keys) and
 * keeps it (as raw bytes in the process's memory, beside the answers themselves), so an answer costs no key agreement: it is a compact JWE (`dir`, A256GCM, a fresh
 * 96-bit IV each time) whose integrity-protected header names the asker's key id (`kid`) and
 * carries the answerer's public key (`spk`). Nothing else on the bus can open it: the private
 * halves never leave their processes. What it does not give: an answer sealed under a rotated key
 * can be opened by whoever later steals that agent process's memory, which holds the answers
 * themselves anyway.
 *
 * `ReplyKeys` is the asker's side, `ReplySealer` the answerer's.
 */
import { decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import { openDirA256Gcm, sealDirA256Gcm } from "./compact.ts";
import { AppError, errorMessage } from "../core/errors.ts";

/** How long an asker uses one key pair; the one before stays openable for answers still in flight. */
export const ROTATE_MS = 60 * 60_000;
/** Shared keys one process keeps (per peer key); past it, the oldest is dropped and derived again when needed. */
const MAX_SHARED = 4096;
const LABEL = new TextEncoder().encode("nimbus reply seal v1");

/** The public JWK an asker sends: P-256, with its key id. */
export interface ReplyKey extends JWK {
  kty: "EC";
  crv: "P-256";
  x: string;
  y: string;
  kid: string;
}

function publicP256(k: unknown, what: string): { kty: "EC"; crv: "P-256"; x: string; y: string } {
  const j = k as Record<string, unknown> | null;
  const coord = (v: unknown) => typeof v === "string" && /^[A-Za-z0-9_-]{43}$/.test(v);
  if (!j || typeof j !== "object" || j.kty !== "EC" || j.crv !== "P-256" || "d" in j || !coord(j.x) || !coord(j.y)) throw new Error(`${what} is not a P-256 public key`);
  return { kty: "EC", crv: "P-256", x: j.x as string, y: j.y as string };
}

/** Whether a request's reply key is one of this scheme's (a key id beside a P-256 public key). */
export function isReplyKey(k: unknown): k is ReplyKey {
  try {
    publicP256(k, "the key");
    const kid = (k as { kid?: unknown }).kid;
    return typeof kid === "string" && /^[A-Za-z0-9_-]{8,64}$/.test(kid);
  } catch {
    return false;
  }
}

/** The shared AES-GCM key of `own` (private) and `peer` (public); `first`/`second` order both sides' public keys alike. */
async function sharedKey(own: CryptoKey, peer: JWK, askerPub: { x: string; y: string }, answererPub: { x: string; y: string }): Promise<Uint8Array> {
  const peerKey = (await importJWK({ ...publicP256(peer, "the peer key") }, "ECDH-ES")) as CryptoKey;
  const z = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: peerKey }, own, 256));
  const enc = new TextEncoder();
  const parts = [new Uint8Array([0, 0, 0, 1]), z, LABEL, enc.encode(askerPub.x + askerPub.y), enc.encode(answererPub.x + answererPub.y)];
  const input = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) input.set(p, (at += p.length) - p.length);
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  z.fill(0);
  return bytes;
}

/** A bounded map of derived keys (insertion order: the oldest goes first). */
class SharedKeys {
  private readonly m = new Map<string, Promise<Uint8Array>>();
  get(id: string, derive: () => Promise<Uint8Array>): Promise<Uint8Array> {
    let k = this.m.get(id);
    if (!k) {
      if (this.m.size >= MAX_SHARED) this.m.delete(this.m.keys().next().value!);
      k = derive();
      this.m.set(id, k);
      k.catch(() => this.m.delete(id));
    }
    return k;
  }
  drop(prefix: string): void {
    for (const id of this.m.keys()) if (id.startsWith(prefix)) this.m.delete(id);
  }
}

interface OwnPair {
  kid: string;
  privateKey: CryptoKey;
  pub: ReplyKey;
  madeAt: number;
}

async function makePair(now: number): Promise<OwnPair> {
  const { publicKey, privateKey } = await generateKeyPair("ECDH-ES", { crv: "P-256" });
  const j = await exportJWK(publicKey);
  const kid = Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString("base64url");
  return { kid, privateKey, pub: { kty: "EC", crv: "P-256", x: j.x!, y: j.y!, kid }, madeAt: now };
}

/** The asker's side: the key to send, and the opening of answers sealed to it. One per process. */
export class ReplyKeys {
  private current: Promise<OwnPair> | null = null;
  private previous: OwnPair | null = null;
  private readonly shared = new SharedKeys();

  constructor(private readonly now: () => number = Date.now) {}

  private async pair(): Promise<OwnPair> {
    const p = await (this.current ??= makePair(this.now()));
    if (this.now() - p.madeAt < ROTATE_MS) return p;
    if (this.previous) this.shared.drop(`${this.previous.kid}.`);
    this.previous = p;
    this.current = makePair(this.now());
    return this.current;
  }

  /** The public key (with its id) to put in a request. */
  async replyKey(): Promise<ReplyKey> {
    return (await this.pair()).pub;
  }

  /** Open an answer sealed to one of this process's keys; anything else throws. */
  async open(jwe: string): Promise<Uint8Array> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(jwe);
    } catch (e) {
      throw new AppError("unavailable", `the answer is not a sealed reply: ${errorMessage(e)}`);
    }
    const cur = await this.pair();
    const own = header.kid === cur.kid ? cur : header.kid === this.previous?.kid ? this.previous : null;
    if (!own || header.alg !== "dir" || header.enc !== "A256GCM") throw new AppError("unavailable", "the answer is not sealed to this process's reply key");
    let spk: { x: string; y: string };
    try {
      spk = publicP256(header.spk, "the answer's sender key");
    } catch (e) {
      throw new AppError("unavailable", errorMessage(e));
    }
    const key = await this.shared.get(`${own.kid}.${spk.x}.${spk.y}`, () => sharedKey(own.privateKey, spk as JWK, own.pub, spk));
    try {
      return openDirA256Gcm(key, jwe).plaintext;
    } catch (e) {
      throw new AppError("unavailable", `the sealed reply does not open: ${errorMessage(e)}`);
    }
  }
}

/** The answerer's side: one key pair per process, a derived key per asker key. */
export class ReplySealer {
  private own: Promise<OwnPair> | null = null;
  private readonly shared = new SharedKeys();

  /** Seal `plaintext` so only the holder of `to`'s private half opens it. A key that is not a reply key throws `bad_request`. */
  async seal(to: unknown, plaintext: Uint8Array): Promise<string> {
    if (!isReplyKey(to)) throw new AppError("bad_request", "replyKey: not a P-256 public key with a key id");
    const own = await (this.own ??= makePair(Date.now()));
    const key = await this.shared.get(`${to.kid}.${to.x}.${to.y}`, () => sharedKey(own.privateKey, to, to, own.pub));
    const spk = { kty: "EC", crv: "P-256", x: own.pub.x, y: own.pub.y };
    return sealDirA256Gcm(key, { kid: to.kid, spk }, plaintext);
  }
}
