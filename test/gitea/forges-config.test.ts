/**
 * Forge connections (issue #16 part 1): NIMBUS_FORGES validated once at start, naming the bad entry
 * and field; secrets registered for redaction; `GET /api/forges` and `nimbus forges list` for operators
 * only, on a real control plane (real nats-server) with GitHub on beside two forges.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError, loadConfig, readConfigFile } from "../../src/core/config/load.ts";
import { controlSettings } from "../../src/control/config.ts";
import { parseForges } from "../../src/gitea/config.ts";
import { redactText } from "../../src/core/log.ts";
import type { RunningControlPlane } from "../../src/control/server.ts";
import { testControlPlane } from "../support/control.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { recordedToken } from "../support/tokens.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const SECRET = "forges-test-auth-secret-0123456789abcdef";
const tea = { id: "tea", kind: "gitea", url: "https://git.example.test/", token: "gitea-api-token-aaaa1111", webhookSecret: "gitea-hook-secret-0123456789", org: "acme" };
const forgejo = { id: "codeberg-like", kind: "forgejo", url: "http://forgejo.example.test:3000", token: "forgejo-api-token-bbbb2222", webhookSecret: "forgejo-hook-secret-0123456789", org: "globex", runnerScope: "org:globex-ci" };

function problemOf(text: string): string {
  try {
    parseForges(text);
  } catch (e) {
    return (e as Error).message;
  }
  return "(accepted)";
}

describe("NIMBUS_FORGES", () => {
  test("two forges of both kinds: URL normalised, scope parsed, secrets registered for redaction", () => {
    const fs = parseForges(JSON.stringify([tea, forgejo]));
    expect(fs.map((f) => [f.id, f.kind, f.url, f.org])).toEqual([
      ["tea", "gitea", "https://git.example.test", "acme"],
      ["codeberg-like", "forgejo", "http://forgejo.example.test:3000", "globex"],
    ]);
    expect(fs[0]!.runnerScope).toEqual({ level: "instance" });
    expect(fs[1]!.runnerScope).toEqual({ level: "org", org: "globex-ci" });
    expect(parseForges(JSON.stringify([{ ...tea, runnerScope: "repo:acme/app" }]))[0]!.runnerScope).toEqual({ level: "repo", owner: "acme", repo: "app" });
    expect(redactText(`token ${tea.token} and ${forgejo.webhookSecret}`)).toBe("token [redacted] and [redacted]");
    expect(parseForges("")).toEqual([]);
  });

  test("each bad entry is refused naming the entry and the field, never echoing a secret", () => {
    const cases: [unknown, string][] = [
      [[{ ...tea, kind: "gitlab" }], "forges[0].kind: must be one of gitea, forgejo"],
      [[tea, { ...forgejo, url: "ftp://x" }], "forges[1].url: must be an http or https URL"],
      [[{ ...tea, url: "https://user:pw@git.example.test" }], "forges[0].url: must be an http or https URL without query, fragment or credentials"],
      [[{ ...tea, webhookSecret: "short" }], "forges[0].webhookSecret: must be at least 16 characters"],
      [[{ ...tea, org: "Not An Org" }], "forges[0].org: must be a Nimbus organisation id"],
      [[{ ...tea, id: "../etc" }], "forges[0].id: must be lower-case letters"],
      [[{ ...tea, runnerScope: "repo:a/b/c" }], "forges[0].runnerScope: must be instance, org:NAME or repo:OWNER/NAME"],
      [[{ ...tea, extra: 1 }], "forges[0].extra: is not a known key"],
      [[{ ...tea, token: undefined }], "forges[0].token"],
      [[tea, { ...forgejo, id: "tea" }], 'forges[1]: id "tea" is already used by forges[0]'],
      [[tea, { ...forgejo, url: "https://git.example.test" }], "forges[1]: url"],
      [{ not: "an array" }, "must be a JSON array"],
      [Array.from({ length: 65 }, (_, i) => ({ ...tea, id: `f${i}`, url: `https://h${i}.test` })), "at most 64"],
    ];
    for (const [value, want] of cases) expect(problemOf(JSON.stringify(value))).toContain(want);
    expect(problemOf("[{")).toContain("must be a JSON array of forge connections, or @path");
    const p = problemOf(JSON.stringify([{ ...tea, kind: "gitlab" }]));
    expect(p).not.toContain(tea.token);
  });

  test("loadConfig names NIMBUS_FORGES and shows no value; @path and a config file's JSON array both work", () => {
    let err: unknown;
    try {
      loadConfig(controlSettings, { NIMBUS_AUTH_SECRET: SECRET, NIMBUS_SECRETS_KEY: Buffer.alloc(32, 3).toString("base64url"), NIMBUS_FORGES: JSON.stringify([{ ...tea, url: "nope" }]) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problem = (err as ConfigError).problems.find((p) => p.key === "NIMBUS_FORGES")!;
    expect(problem.problem).toContain("forges[0].url");
    expect(problem.problem).not.toContain(tea.token);

    const dir = mkdtempSync(join(tmpdir(), "nimbus-forges-"));
    try {
      writeFileSync(join(dir, "forges.json"), JSON.stringify([tea]));
      expect(parseForges(`@${join(dir, "forges.json")}`).map((f) => f.id)).toEqual(["tea"]);
      writeFileSync(join(dir, "nimbus.json"), JSON.stringify({ NIMBUS_FORGES: [tea, forgejo], NIMBUS_GITHUB_RUNNER_LABELS: ["a", "b"] }));
      const src = readConfigFile(join(dir, "nimbus.json"));
      expect(src.NIMBUS_GITHUB_RUNNER_LABELS).toBe("a,b");
      expect(parseForges(src.NIMBUS_FORGES!).map((f) => f.id)).toEqual(["tea", "codeberg-like"]);
      expect(problemOf(`@${join(dir, "missing.json")}`)).toContain("ENOENT");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("GET /api/forges and nimbus forges list (GitHub on beside two forges)", () => {
  let nats: NatsServer;
  let control: RunningControlPlane;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    nats = await startNats();
    control = await testControlPlane({ natsUrl: nats.url, authSecret: SECRET, webhookSecret: "github-hook-secret-0123456789", env: { NIMBUS_FORGES: JSON.stringify([tea, forgejo]) } });
    tokens.operator = await recordedToken(nats.url, SECRET, { sub: "op", role: "operator", ttlSeconds: 600 });
    tokens.admin = await recordedToken(nats.url, SECRET, { sub: "ann", role: "org-admin", org: "acme", ttlSeconds: 600 });
  }, 30_000);
  afterAll(async () => {
    await control?.stop();
    await nats?.stop();
  });

  const get = (token?: string) => fetch(`${control.url}/api/forges`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  test("an operator sees both forges and GitHub, without tokens or secrets", async () => {
    const r = await get(tokens.operator);
    expect(r.status).toBe(200);
    const text = await r.text();
    for (const s of [tea.token, tea.webhookSecret, forgejo.token, forgejo.webhookSecret]) expect(text).not.toContain(s);
    const body = JSON.parse(text);
    expect(body.github).toBe(true);
    expect(body.forges).toEqual([
      { id: "tea", kind: "gitea", url: "https://git.example.test", org: "acme", runnerScope: "instance", webhookPath: "/webhooks/forge/tea" },
      { id: "codeberg-like", kind: "forgejo", url: "http://forgejo.example.test:3000", org: "globex", runnerScope: "org:globex-ci", webhookPath: "/webhooks/forge/codeberg-like" },
    ]);
  });

  test("no token is 401, an org admin (even of a mapped org) 403, a forged token 401", async () => {
    expect((await get()).status).toBe(401);
    expect((await get(tokens.admin)).status).toBe(403);
    const forged = tokens.operator!.slice(0, -4) + (tokens.operator!.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect((await get(forged)).status).toBe(401);
  });

  async function nimbus(token: string, ...args: string[]) {
    const env = { ...process.env, NIMBUS_DATA_DIR: "/nonexistent-nimbus", NIMBUS_URL: control.url, NIMBUS_TOKEN: token };
    const p = Bun.spawn([BIN, ...args], { env, stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code, out, err };
  }

  test("nimbus forges list: a table, --json, and a refusal in our words for a non-operator", async () => {
    const t = await nimbus(tokens.operator!, "forges", "list");
    expect(t.code).toBe(0);
    const lines = t.out.trimEnd().split("\n");
    expect(lines[0]).toBe("github: on");
    expect(lines[1]).toMatch(/^ID +KIND +URL +ORG +SCOPE +WEBHOOK$/);
    expect(lines[2]).toMatch(/^tea +gitea +https:\/\/git\.example\.test +acme +instance +\/webhooks\/forge\/tea$/);
    expect(lines[3]).toMatch(/^codeberg-like +forgejo +http:\/\/forgejo\.example\.test:3000 +globex +org:globex-ci/);
    const j = await nimbus(tokens.operator!, "forges", "list", "--json");
    expect(JSON.parse(j.out).forges.map((f: any) => f.id)).toEqual(["tea", "codeberg-like"]);
    const denied = await nimbus(tokens.admin!, "forges", "list");
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain("may not forges read");
  }, 30_000);
});
