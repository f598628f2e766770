/**
 * `nimbus registry ls|usage|rm` as a user runs them (bin/nimbus), against the real registry service
 * named by NIMBUS_REGISTRY_URL with a recorded token: tables, --json, errors in our words, --help.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { client, imageManifest } from "../registry/support/http.ts";
import { seeded, sha256, startTestRegistry, type TestRegistry } from "../registry/support/service.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
let reg: TestRegistry;
const config = new TextEncoder().encode('{"os":"linux","cli":1}');
const layer = seeded("cli-layer", 5000);
const manifest = JSON.stringify(imageManifest(config, [layer]));

/** The CLI as a child process (asynchronously: the registry it calls runs in this process). */
async function nimbus(token: string | null, ...args: string[]) {
  const env: Record<string, string | undefined> = { ...process.env, NIMBUS_DATA_DIR: "/nonexistent-nimbus", NIMBUS_REGISTRY_URL: reg.url, NIMBUS_TOKEN: token ?? undefined };
  if (token === null) delete env.NIMBUS_TOKEN;
  const p = Bun.spawn([BIN, ...args], { env: env as Record<string, string>, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

beforeAll(async () => {
  reg = await startTestRegistry();
  for (const [org, repo] of [["acme", "acme/app"], ["acme", "acme/web"], ["globex", "globex/app"]] as const) {
    const c = client(reg.url, await reg.token("org-admin", org));
    await c.pushBlob(repo, config);
    await c.pushBlob(repo, layer);
    expect((await c.putManifest(repo, "v1", manifest)).status).toBe(201);
    expect((await c.putManifest(repo, "latest", manifest)).status).toBe(201);
  }
});
afterAll(() => reg?.cleanup());

describe("nimbus registry", () => {
  test("ls: the org's repositories as a table, or as JSON; an operator's --org", async () => {
    const member = await reg.token("member", "acme");
    const r = await nimbus(member, "registry", "ls");
    expect(r).toMatchObject({ code: 0, err: "" });
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^REPOSITORY +TAGS +MANIFESTS +SIZE +PUSHED$/);
    expect(lines.slice(1).map((l) => l.split(/ +/)[0])).toEqual(["acme/app", "acme/web"]);
    expect(lines[1]).toMatch(/^acme\/app +2 +1 +5\.\d KiB +\d+m?s ago$/);
    const json = JSON.parse((await nimbus(member, "registry", "ls", "--json")).out);
    expect(json.map((x: any) => x.name)).toEqual(["acme/app", "acme/web"]);
    expect(json[0].bytes).toBe(config.length + layer.length + manifest.length);
    const op = await reg.token("operator");
    expect(JSON.parse((await nimbus(op, "registry", "ls", "--org", "globex", "--json")).out).map((x: any) => x.name)).toEqual(["globex/app"]);
  });

  test("ls ORG/NAME: its tags with digest, size and push time", async () => {
    const r = await nimbus(await reg.token("viewer", "acme"), "registry", "ls", "acme/app");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^TAG +DIGEST +SIZE +PUSHED$/);
    expect(lines.slice(1).map((l) => l.split(/ +/)[0])).toEqual(["latest", "v1"]);
    expect(lines[1]).toContain(sha256(manifest).slice(0, 19));
    const json = JSON.parse((await nimbus(await reg.token("viewer", "acme"), "registry", "ls", "acme/app", "--json")).out);
    expect(json[0]).toMatchObject({ tag: "latest", digest: sha256(manifest), size: manifest.length + config.length + layer.length });
  });

  test("usage: per org, with the quota and a total", async () => {
    const r = await nimbus(await reg.token("operator"), "registry", "usage");
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ORG +REPOSITORIES +BLOBS +SIZE +QUOTA$/);
    expect(lines[1]).toMatch(/^acme +2 +3 +5\.\d KiB +none$/);
    expect(lines[2]).toMatch(/^globex +1 +3 +/);
    expect(lines.at(-1)).toMatch(/^total: \d+\.\d KiB$/);
    const json = JSON.parse((await nimbus(await reg.token("member", "globex"), "registry", "usage", "--json")).out);
    expect(json.usage.map((u: any) => u.org)).toEqual(["globex"]);
  });

  test("rm: a member is refused in our words; an org-admin removes a tag, then the repository", async () => {
    const member = await nimbus(await reg.token("member", "acme"), "registry", "rm", "acme/web:v1");
    expect(member).toMatchObject({ code: 1, out: "", err: "nimbus registry rm: a member token may not delete in the registry (org-admins and operators may)\n" });
    const orgAdmin = await reg.token("org-admin", "acme");
    expect(await nimbus(orgAdmin, "registry", "rm", "acme/web:v1")).toMatchObject({ code: 0, out: `deleted tag acme/web:v1 (it named ${sha256(manifest)})\n` });
    const repo = await nimbus(orgAdmin, "registry", "rm", "acme/web");
    expect(repo.code).toBe(0);
    expect(repo.out).toBe("deleted acme/web: 1 tag(s), 1 manifest(s), 2 blob link(s)\n");
    // The registry has no audit stream here (no control plane made one): said, not hidden.
    expect(repo.err).toBe("warning: the deletion was not recorded in the audit trail (see the registry's log)\n");
    expect(await nimbus(orgAdmin, "registry", "rm", "acme/web")).toMatchObject({ code: 1, err: "nimbus registry rm: repository acme/web not known to the registry\n" });
    expect(await nimbus(await reg.token("org-admin", "globex"), "registry", "rm", "acme/app")).toMatchObject({ code: 1, err: "nimbus registry rm: repository acme/app not found\n" });
  });

  test("bad arguments and a missing registry are errors in our words", async () => {
    const t = await reg.token("operator");
    expect(await nimbus(t, "registry", "rm", "acme")).toMatchObject({ code: 1, err: "nimbus registry rm: acme: a repository is ORG/NAME (its first part is the organisation)\n" });
    expect(await nimbus(t, "registry", "rm", "acme/app@sha256:00")).toMatchObject({ code: 1, err: expect.stringContaining("not a digest") });
    expect(await nimbus(t, "registry", "rm", "acme/app:")).toMatchObject({ code: 1, err: 'nimbus registry rm: acme/app:: the tag after ":" is empty\n' });
    expect(await nimbus(t, "registry", "rm", "Acme/App:v1")).toMatchObject({ code: 1, err: expect.stringMatching(/^nimbus registry rm: repo: must be a repository name ORG\/NAME/) });
    expect(await nimbus(t, "registry", "ls", "--limit", "0")).toMatchObject({ code: 1, err: "nimbus registry ls: limit: must be at least 1\n" });
    expect(await nimbus(t, "registry", "rm")).toMatchObject({ code: 2, err: expect.stringMatching(/^nimbus registry rm: missing ORG\/NAME\[:TAG\]\nUsage: nimbus registry rm /) });
    expect(await nimbus("not.a-token", "registry", "ls")).toMatchObject({ code: 1, err: expect.stringMatching(/^nimbus registry ls: /) });
    const none = await nimbus(null, "registry", "ls");
    expect(none).toMatchObject({ code: 1, err: expect.stringContaining("no Nimbus stack found in /nonexistent-nimbus") });
  });

  test("--help of each says what it does", async () => {
    for (const [cmd, words] of [["ls", "tags"], ["usage", "quota"], ["rm", "garbage collection"]] as const) {
      const r = await nimbus(null, "registry", cmd, "--help");
      expect(r.code).toBe(0);
      expect(r.out).toStartWith(`nimbus registry ${cmd} — `);
      expect(r.out).toContain(words);
    }
    expect((await nimbus(null, "registry")).out).toContain("registry rm");
  });
});
