/**
 * Unmodified skopeo through the Docker token flow: `skopeo login` (GET /v2/ → 401 challenge → the
 * token endpoint with Basic auth → /v2/ with the registry token), `skopeo inspect --creds user:TOKEN`,
 * an auth file like the one a job gets, refusals for another org and for a wrong password, and
 * anonymous inspect of a public org. The registry is the tiny one of ./auth-support.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNats, type NatsServer } from "../support/nats.ts";
import { recordedToken } from "../support/tokens.ts";
import { dockerConfigJson, mintRegistryCredential } from "../../src/auth/registry-credential.ts";
import { MANIFEST_DIGEST, SECRET, startTestRegistry, type TestRegistry } from "./auth-support.ts";

let nats: NatsServer;
let reg: TestRegistry;
let dir: string;
let member: string;

async function skopeo(args: string[], authFile = join(dir, "auth.json")) {
  const p = Bun.spawn(["skopeo", ...args], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH!, HOME: dir, REGISTRY_AUTH_FILE: authFile } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

beforeAll(async () => {
  nats = await startNats();
  reg = await startTestRegistry(nats.url, { publicOrgs: ["open"] });
  dir = mkdtempSync(join(tmpdir(), "nimbus-regauth-"));
  member = await recordedToken(nats.url, SECRET, { sub: "bob", role: "member", org: "acme", ttlSeconds: 3600 });
}, 30_000);

afterAll(async () => {
  await reg?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("skopeo login with a Nimbus token as password, then inspect with the stored login", async () => {
  const login = await skopeo(["login", "--tls-verify=false", "-u", "bob", "-p", member, reg.host]);
  expect(login.err).toBe("");
  expect(login.code).toBe(0);
  const r = await skopeo(["inspect", "--tls-verify=false", `docker://${reg.host}/acme/app:latest`]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out).Digest).toBe(MANIFEST_DIGEST);
});

test("skopeo login with a wrong password fails", async () => {
  const r = await skopeo(["login", "--tls-verify=false", "-u", "bob", "-p", "wrong-password", reg.host], join(dir, "wrong.json"));
  expect(r.code).not.toBe(0);
  expect(r.err).toMatch(/invalid username\/password|401|unauthorized/i);
});

test("skopeo inspect --creds user:TOKEN: its org's repository works, another org's is refused", async () => {
  const ok = await skopeo(["inspect", "--tls-verify=false", "--creds", `anyone:${member}`, `docker://${reg.host}/acme/team/app:latest`], join(dir, "none.json"));
  expect(ok.code).toBe(0);
  expect(JSON.parse(ok.out).Digest).toBe(MANIFEST_DIGEST);
  const other = await skopeo(["inspect", "--tls-verify=false", "--creds", `anyone:${member}`, `docker://${reg.host}/other/app:latest`], join(dir, "none.json"));
  expect(other.code).not.toBe(0);
  expect(other.out).toBe("");
});

test("a job's auth file (config.json with its registry credential) lets skopeo pull from its org", async () => {
  const cred = await mintRegistryCredential(SECRET, { jobId: "j-skopeo", attempt: 1, org: "acme", ttlSeconds: 600 });
  const file = join(dir, "job-config.json");
  writeFileSync(file, dockerConfigJson(reg.host, cred));
  const r = await skopeo(["inspect", "--tls-verify=false", `docker://${reg.host}/acme/app:latest`], file);
  expect(r.code).toBe(0);
  expect((await skopeo(["inspect", "--tls-verify=false", `docker://${reg.host}/other/app:latest`], file)).code).not.toBe(0);
});

test("anonymous inspect: a public org's repository works, a private one is refused", async () => {
  const pub = await skopeo(["inspect", "--tls-verify=false", "--no-creds", `docker://${reg.host}/open/app:latest`], join(dir, "none.json"));
  expect(pub.code).toBe(0);
  const priv = await skopeo(["inspect", "--tls-verify=false", "--no-creds", `docker://${reg.host}/acme/app:latest`], join(dir, "none.json"));
  expect(priv.code).not.toBe(0);
});
