/**
 * Reply seals (src/auth/reply-seal.ts): an answer opens only for the process whose reply key it was
 * sealed to, also after that process rotated its key once, never after twice; a changed header,
 * ciphertext or sender key does not open; keys that are not P-256 public keys with an id are refused.
 */
import { describe, expect, test } from "bun:test";
import { CompactEncrypt, decodeProtectedHeader } from "jose";
import { ReplyKeys, ReplySealer, ROTATE_MS, isReplyKey } from "../../src/auth/reply-seal.ts";
import { isAppError } from "../../src/core/errors.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);
const refused = (p: Promise<unknown>) => p.then(() => "opened", (e) => (isAppError(e) ? e.code : String(e)));

describe("reply seals", () => {
  test("an answer opens for its asker only, and the asker's key id and the sender's public key are in the protected header", async () => {
    const asker = new ReplyKeys();
    const other = new ReplyKeys();
    const sealer = new ReplySealer();
    const key = await asker.replyKey();
    expect(isReplyKey(key)).toBe(true);
    expect("d" in key).toBe(false);
    const jwe = await sealer.seal(key, bytes("the secret answer"));
    expect(jwe).not.toContain("secret");
    const h = decodeProtectedHeader(jwe) as Record<string, unknown>;
    expect(h).toMatchObject({ alg: "dir", enc: "A256GCM", kid: key.kid });
    expect(Object.keys(h.spk as object).sort()).toEqual(["crv", "kty", "x", "y"]);
    expect(text(await asker.open(jwe))).toBe("the secret answer");
    expect(await refused(other.open(jwe))).toBe("unavailable");
    // The same pair again costs no new agreement and gives a fresh IV: two seals of one text differ.
    const again = await sealer.seal(key, bytes("the secret answer"));
    expect(again).not.toBe(jwe);
    expect(text(await asker.open(again))).toBe("the secret answer");
  });

  test("a second answerer (another control-plane replica) is opened as well, by its own sender key", async () => {
    const asker = new ReplyKeys();
    const key = await asker.replyKey();
    const [a, b] = [new ReplySealer(), new ReplySealer()];
    const ja = await a.seal(key, bytes("from a"));
    const jb = await b.seal(key, bytes("from b"));
    expect((decodeProtectedHeader(ja) as { spk: { x: string } }).spk.x).not.toBe((decodeProtectedHeader(jb) as { spk: { x: string } }).spk.x);
    expect(text(await asker.open(ja))).toBe("from a");
    expect(text(await asker.open(jb))).toBe("from b");
  });

  test("a changed ciphertext, a swapped sender key or a forged header does not open", async () => {
    const asker = new ReplyKeys();
    const key = await asker.replyKey();
    const jwe = await new ReplySealer().seal(key, bytes("answer"));
    const [hdr, , iv, ct, tag] = jwe.split(".");
    const flip = (s: string) => (s[0] === "A" ? "B" : "A") + s.slice(1);
    expect(await refused(asker.open([hdr, "", iv, flip(ct!), tag].join(".")))).toBe("unavailable");
    expect(await refused(asker.open([hdr, "", iv, ct, flip(tag!)].join(".")))).toBe("unavailable");
    // Another sender's key put in the header: the derived key differs, the tag fails.
    const other = decodeProtectedHeader(await new ReplySealer().seal(key, bytes("x"))) as Record<string, unknown>;
    const swapped = Buffer.from(JSON.stringify({ ...decodeProtectedHeader(jwe), spk: other.spk })).toString("base64url");
    expect(await refused(asker.open([swapped, "", iv, ct, tag].join(".")))).toBe("unavailable");
    // A JWE of another algorithm, or to another key id, is refused before any decryption.
    const otherEnc = await new CompactEncrypt(bytes("x")).setProtectedHeader({ alg: "dir", enc: "A128GCM", kid: key.kid }).encrypt(new Uint8Array(16));
    expect(await refused(asker.open(otherEnc))).toBe("unavailable");
    expect(await refused(asker.open("not.a.jwe"))).toBe("unavailable");
    expect(await refused(asker.open("garbage"))).toBe("unavailable");
  });

  test("after a rotation, answers sealed to the previous key still open; after a second, they do not", async () => {
    let now = 1_000_000;
    const asker = new ReplyKeys(() => now);
    const sealer = new ReplySealer();
    const k1 = await asker.replyKey();
    const j1 = await sealer.seal(k1, bytes("one"));
    now += ROTATE_MS;
    const k2 = await asker.replyKey();
    expect(k2.kid).not.toBe(k1.kid);
    expect(text(await asker.open(j1))).toBe("one");
    expect(text(await asker.open(await sealer.seal(k2, bytes("two"))))).toBe("two");
    now += ROTATE_MS;
    const k3 = await asker.replyKey();
    expect(k3.kid).not.toBe(k2.kid);
    expect(await refused(asker.open(j1))).toBe("unavailable");
  });

  test("what is not a reply key is refused with bad_request: a private key, another curve, no key id, junk", async () => {
    const sealer = new ReplySealer();
    const good = await new ReplyKeys().replyKey();
    for (const k of [{ ...good, d: good.x }, { ...good, crv: "P-384" }, { ...good, kid: undefined }, { ...good, kid: "x" }, { ...good, x: "short" }, {}, null, "key", 42, []]) {
      expect(isReplyKey(k)).toBe(false);
      expect(await refused(sealer.seal(k, bytes("x")))).toBe("bad_request");
    }
  });
});
