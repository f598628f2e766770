/**
 * The results-host path, configured exactly as a guest would be: the unmodified @actions/cache gets
 * the env the runner injects (GitHub's results URL and GitHub's own runtime token), GitHub's results
 * host name resolves to the gateway through /etc/hosts (a private mount namespace here), and Node
 * trusts the Nimbus CA through NODE_EXTRA_CA_CERTS. Cache calls must land in the Nimbus cache under
 * the VM's bound job; other results calls (artifacts) must reach "GitHub" unchanged.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/core/log.ts";
import { ensureGatewayCerts, RESULTS_HOSTS } from "../../agent/results-gateway/ca.ts";
import { startResultsGateway, type ResultsGateway } from "../../agent/results-gateway/gateway.ts";
import { freePort } from "../support/net.ts";
import { runClient } from "./support/client.ts";
import { removeDir, tempDir, treeDigest, writeTree } from "./support/files.ts";
import { startTestCache, type TestCache } from "./support/service.ts";

const HOST = RESULTS_HOSTS[0]!;
const GITHUB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzY3AiOiJBY3Rpb25zLlJlc3VsdHMifQ.github-signed-not-ours";
let cache: TestCache;
let gateway: ResultsGateway;
let github: ReturnType<typeof Bun.serve>;
const githubCalls: { path: string; auth: string | null; body: string }[] = [];
let dir: string;
let ws: string;

beforeAll(async () => {
  dir = tempDir("nimbus-gw-");
  ws = join(dir, "ws");
  github = Bun.serve({
    hostname: "127.0.0.1", port: 0,
    async fetch(req) {
      githubCalls.push({ path: new URL(req.url).pathname, auth: req.headers.get("authorization"), body: await req.text() });
      return Response.json({ ok: true, signed_upload_url: "https://example.invalid/artifact" });
    },
  });
  cache = await startTestCache({ env: { NIMBUS_CACHE_TRUST_FORWARDED: "true" } });
  const certs = await ensureGatewayCerts(join(dir, "tls"));
  gateway = startResultsGateway({
    hostname: "127.0.0.1", port: await freePort(), tls: { cert: readFileSync(certs.certPath, "utf8"), key: readFileSync(certs.keyPath, "utf8") },
    cacheUrl: cache.url, upstreamUrl: `http://127.0.0.1:${github.port}`, log: createLogger("gateway-test"),
  });
  gateway.bind("127.0.0.1", await cache.token("acme/app", { ref: "refs/heads/main" }));
  writeFileSync(join(dir, "hosts"), `127.0.0.1 localhost\n127.0.0.1 ${HOST}\n`);
});
afterAll(async () => {
  await gateway.stop();
  github.stop(true);
  await cache.cleanup();
  removeDir(dir);
});

/** What the runner gives a JavaScript action on github.com, plus the guest image's CA setting. */
function guestEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/root",
    ACTIONS_RESULTS_URL: `https://${HOST}:${gateway.port}/`, ACTIONS_CACHE_SERVICE_V2: "True", ACTIONS_RUNTIME_TOKEN: GITHUB_TOKEN,
    ACTIONS_RUNTIME_URL: "https://pipelines.actions.githubusercontent.com/abc/", GITHUB_SERVER_URL: "https://github.com",
    NODE_EXTRA_CA_CERTS: join(dir, "tls/ca.pem"), RUNNER_TEMP: join(dir, "tmp"), GITHUB_WORKSPACE: ws,
  };
}

/** Run the client with /etc/hosts replaced in a private mount namespace, as in the guest. */
const inGuestNamespace = () => ["unshare", "-m", "sh", "-c", `mount --bind ${join(dir, "hosts")} /etc/hosts && exec "$@"`, "sh"];

test("unmodified @actions/cache (v2, GitHub's env) saves to and restores from the Nimbus cache through the gateway", async () => {
  writeTree(ws, "deps", "gateway", 300 * 1024);
  const before = treeDigest(join(ws, "deps"));
  const env = guestEnv();
  Bun.spawnSync(["mkdir", "-p", env.RUNNER_TEMP!]);
  const saved = await runClient(env, { op: "save", paths: ["deps"], key: "gw-key-1" }, inGuestNamespace());
  expect(typeof saved.result).toBe("number");
  rmSync(join(ws, "deps"), { recursive: true });
  const restored = await runClient(env, { op: "restore", paths: ["deps"], key: "gw-key-2", restoreKeys: ["gw-key-"] }, inGuestNamespace());
  expect(restored.result).toBe("gw-key-1");
  expect(treeDigest(join(ws, "deps"))).toEqual(before);
  const entries = cache.deps.index.list({ repo: "acme/app" });
  expect(entries.map((e) => [e.key, e.scope, e.state])).toEqual([["gw-key-1", "refs/heads/main", "ready"]]);
  expect(githubCalls.filter((c) => c.path.includes("CacheService"))).toEqual([]);
});

test("artifact calls are forwarded to GitHub unchanged, with GitHub's token", async () => {
  const p = Bun.spawn(["curl", "-s", "--cacert", join(dir, "tls/ca.pem"), "--resolve", `${HOST}:${gateway.port}:127.0.0.1`,
    "-H", `Authorization: Bearer ${GITHUB_TOKEN}`, "-H", "content-type: application/json", "-d", '{"name":"dist"}',
    `https://${HOST}:${gateway.port}/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact`], { stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  expect(JSON.parse(out)).toMatchObject({ ok: true });
  expect(githubCalls.at(-1)).toEqual({ path: "/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact", auth: `Bearer ${GITHUB_TOKEN}`, body: '{"name":"dist"}' });
});

test("a VM with no binding is sent to GitHub for cache calls too", async () => {
  gateway.unbind("127.0.0.1");
  const p = Bun.spawn(["curl", "-s", "--cacert", join(dir, "tls/ca.pem"), "--resolve", `${HOST}:${gateway.port}:127.0.0.1`, "-d", "{}",
    `https://${HOST}:${gateway.port}/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL`], { stdout: "pipe" });
  await p.exited;
  expect(githubCalls.at(-1)?.path).toBe("/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL");
});
