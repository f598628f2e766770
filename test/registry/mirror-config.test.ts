/**
 * The mirror's settings, validated once at start: upstream pairs, the credentials file (its values
 * never in a message), the default upstream; the pure pieces (challenges, names, grants, counters);
 * and the registry refusing to start on a bad setting, naming the key.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/core/config/load.ts";
import { registrySettings } from "../../src/registry/config.ts";
import { parseChallenge } from "../../src/registry/mirror/challenge.ts";
import { createMirror, isMirrorName, mirrorTarget } from "../../src/registry/mirror/mirror.ts";
import { MirrorStats } from "../../src/registry/mirror/metrics.ts";
import { mirrorConfig, type MirrorSettings } from "../../src/registry/mirror/upstreams.ts";
import { allowedActions } from "../../src/registry/auth/grants.ts";
import { parseName } from "../../src/registry/names.ts";
import { registryMirror } from "../../src/registry/server.ts";
import { redactText } from "../../src/core/log.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-mirror-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: MirrorSettings = { upstreams: "", upstreamCredentialsFile: "", mirrorDefault: "", mirrorAnonymous: false, mirrorTagTtlSeconds: 300, mirrorTimeoutSeconds: 30 };
function problems(s: Partial<MirrorSettings>): string {
  try {
    mirrorConfig({ ...base, ...s });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("settings", () => {
  test("upstreams: NAME=URL pairs become origins; credentials from the file", () => {
    const creds = join(dir, "ok.json");
    writeFileSync(creds, JSON.stringify({ ghcr: { username: "bot", password: "s3cret-value-1" } }));
    const c = mirrorConfig({ ...base, upstreams: "dockerhub=https://registry-1.docker.io, ghcr=https://ghcr.io/,local=http://127.0.0.1:5000", upstreamCredentialsFile: creds, mirrorDefault: "dockerhub" });
    expect([...c.upstreams.keys()]).toEqual(["dockerhub", "ghcr", "local"]);
    expect(c.upstreams.get("ghcr")).toEqual({ name: "ghcr", url: "https://ghcr.io", credentials: { username: "bot", password: "s3cret-value-1" } });
    expect(c.upstreams.get("local")!.url).toBe("http://127.0.0.1:5000");
    expect(c.defaultUpstream).toBe("dockerhub");
    expect(c.tagTtlMs).toBe(300_000);
    // Registered as a secret: no log line can carry it.
    expect(redactText("upstream said s3cret-value-1")).toBe("upstream said [redacted]");
  });

  test("bad pairs are refused, each named", () => {
    expect(problems({ upstreams: "dockerhub" })).toContain("NIMBUS_REGISTRY_UPSTREAMS: entry 1 is not NAME=URL");
    expect(problems({ upstreams: "Docker_Hub=https://x.io" })).toContain("upstream name must be lower-case");
    expect(problems({ upstreams: "a=https://x.io,a=https://y.io" })).toContain("upstream a is named twice");
    expect(problems({ upstreams: "a=ftp://x.io" })).toContain("upstream a: the URL must be an http or https URL");
    expect(problems({ upstreams: "a=https://x.io/v2" })).toContain("must be an origin only");
    expect(problems({ upstreams: "a=not a url" })).toContain("upstream a: the URL is not a URL");
    const withCreds = problems({ upstreams: "a=https://user:hunter2-secret@x.io" });
    expect(withCreds).toContain("must not carry credentials");
    expect(withCreds).not.toContain("hunter2");
    expect(problems({ upstreams: Array.from({ length: 33 }, (_, i) => `u${i}=https://x.io`).join(",") })).toContain("at most 32 upstreams");
  });

  test("the credentials file: unreadable, not JSON, unknown upstream, bad entries; never a value in the message", () => {
    expect(problems({ upstreams: "a=https://x.io", upstreamCredentialsFile: join(dir, "missing.json") })).toContain("NIMBUS_REGISTRY_UPSTREAM_CREDENTIALS_FILE: cannot be read (ENOENT)");
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{not json: pa55word-in-file");
    const notJson = problems({ upstreams: "a=https://x.io", upstreamCredentialsFile: bad });
    expect(notJson).toContain("is not valid JSON");
    expect(notJson).not.toContain("pa55word");
    writeFileSync(bad, JSON.stringify({ b: { username: "u", password: "pa55word-unknown" }, a: { username: "u:x", password: "pa55word-colon" } }));
    const m = problems({ upstreams: "a=https://x.io", upstreamCredentialsFile: bad });
    expect(m).toContain('names "b", which is not an upstream');
    expect(m).toContain('"a": username (no colon');
    expect(m).not.toContain("pa55word");
  });

  test("the default upstream must be one of them", () => {
    expect(problems({ upstreams: "a=https://x.io", mirrorDefault: "dockerhub" })).toContain('NIMBUS_REGISTRY_MIRROR_DEFAULT: "dockerhub" is not an upstream');
  });

  test("the registry does not start on a bad mirror setting (before it connects anywhere)", () => {
    const config = loadConfig(registrySettings, { NIMBUS_AUTH_SECRET: "x".repeat(32), NIMBUS_REGISTRY_UPSTREAMS: "a=https://x.io", NIMBUS_REGISTRY_MIRROR_DEFAULT: "b" });
    expect(() => registryMirror(config)).toThrow("NIMBUS_REGISTRY_MIRROR_DEFAULT");
    expect(() => loadConfig(registrySettings, { NIMBUS_AUTH_SECRET: "x".repeat(32), NIMBUS_REGISTRY_MIRROR_TAG_TTL_SECONDS: "-1" })).toThrow("NIMBUS_REGISTRY_MIRROR_TAG_TTL_SECONDS");
    expect(registryMirror(loadConfig(registrySettings, { NIMBUS_AUTH_SECRET: "x".repeat(32) }))).toBeUndefined();
  });
});

describe("pure pieces", () => {
  test("challenges: Bearer with its parameters, Basic; junk, other schemes and non-http realms are none", () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: "bearer", realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/alpine:pull",
    });
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: "basic" });
    expect(parseChallenge('Bearer realm="file:///etc/passwd"')).toBeNull();
    expect(parseChallenge("Bearer service=x")).toBeNull();
    expect(parseChallenge('Bearer realm="https://x", junk')).toBeNull();
    expect(parseChallenge("Negotiate abc")).toBeNull();
    expect(parseChallenge(`Bearer realm="https://x/${"a".repeat(5000)}"`)).toBeNull();
    expect(parseChallenge(null)).toBeNull();
  });

  test("names: mirror/UPSTREAM/NAME, library/ for the default upstream only", () => {
    expect(parseName("mirror/dockerhub/library/alpine")).toEqual({ name: "mirror/dockerhub/library/alpine", org: "mirror", mirror: { upstream: "dockerhub", remote: "library/alpine" } });
    expect(() => parseName("mirror/dockerhub")).toThrow("mirror/UPSTREAM/NAME");
    const m = createMirror(mirrorConfig({ ...base, upstreams: "hub=https://registry-1.docker.io", mirrorDefault: "hub" }));
    expect(mirrorTarget(m, "library/alpine")).toMatchObject({ repo: "mirror/hub/library/alpine", remote: "library/alpine" });
    expect(mirrorTarget(m, "mirror/hub/bitnami/redis")).toMatchObject({ repo: "mirror/hub/bitnami/redis", remote: "bitnami/redis" });
    expect(() => mirrorTarget(m, "mirror/ghcr/x/y")).toThrow("not known to the registry");
    expect(isMirrorName(m, "library/alpine")).toBe(true);
    expect(isMirrorName(m, "acme/app")).toBe(false);
    expect(isMirrorName(undefined, "library/alpine")).toBe(false);
  });

  test("grants: pull only on the mirror for every role, anonymous only when opted in", () => {
    const p = (role: "operator" | "member" | "agent", org: string | null) => ({ tokenId: "t", sub: "s", role, org });
    const policy = { publicOrgs: new Set<string>(), mirror: { anonymous: false, libraryAlias: true } };
    expect(allowedActions(policy, p("operator", null), "mirror/hub/x")).toEqual(["pull"]);
    expect(allowedActions(policy, p("member", "acme"), "library/alpine")).toEqual(["pull"]);
    expect(allowedActions(policy, p("agent", null), "mirror/hub/x")).toEqual(["pull"]);
    expect(allowedActions(policy, null, "mirror/hub/x")).toEqual([]);
    expect(allowedActions({ ...policy, mirror: { anonymous: true, libraryAlias: false } }, null, "mirror/hub/x")).toEqual(["pull"]);
    expect(allowedActions({ ...policy, mirror: { anonymous: true, libraryAlias: false } }, p("member", "acme"), "library/alpine")).toEqual([]); // an org's, not acme's
  });

  test("counters per upstream", () => {
    const s = new MirrorStats();
    s.inc("hub", "blob_miss");
    s.inc("hub", "blob_miss");
    s.inc("ghcr", "manifest_hit");
    expect(s.of("hub").blob_miss).toBe(2);
    expect(s.of("nowhere").blob_miss).toBe(0);
    expect(s.snapshot().filter((r) => r.value > 0)).toEqual([{ upstream: "hub", event: "blob_miss", value: 2 }, { upstream: "ghcr", event: "manifest_hit", value: 1 }]);
  });
});
