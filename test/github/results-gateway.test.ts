/**
 * The pure and host-side parts of the results-host gateway wiring (the whole path through a VM is
 * test/github/results-gateway-vm.test.ts):
 * - a GitHub job's cache scope from its webhook (hostile branch names give none);
 * - the guest config lines for the results host names and the CA, refused when malformed, and what
 *   the guest init's setup_names (agent/guest/job.sh, run here by sh) makes of them;
 * - the bridge policy text for the 443 redirect;
 * - bind/unbind at a real gateway in front of the real cache service: a bound address gets its
 *   job's token, an unbind by a job that no longer owns the address leaves the binding, and an
 *   unbound address is sent upstream with its own token, never a Nimbus one.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLogger } from "../../src/core/log.ts";
import { githubCacheScope } from "../../src/github/cache-scope.ts";
import { encodeGuestConfig } from "../../agent/guest/host/config.ts";
import { egressRuleset } from "../../agent/net/policy.ts";
import { ensureGatewayCerts, RESULTS_HOSTS } from "../../agent/results-gateway/ca.ts";
import { startResultsGateway, type ResultsGateway } from "../../agent/results-gateway/gateway.ts";
import { guestResultsSetup, ResultsBindings } from "../../agent/github/results-gateway.ts";
import { GUEST_CA_PATH, guestAddress } from "../../agent/vm/run.ts";
import { freePort } from "../support/net.ts";
import { removeDir, tempDir } from "../cache/support/files.ts";
import { startTestCache, type TestCache } from "../cache/support/service.ts";

const payload = (branch: unknown, repo = "octo-repo", owner = "Octo-Org") => ({
  workflow_job: { id: 1, run_id: 2, labels: [], head_branch: branch as string },
  repository: { name: repo, full_name: `${owner}/${repo}`, owner: { login: owner } },
});

describe("a GitHub job's cache scope", () => {
  test("its repository and branch, as GitHub scopes its cache", () => {
    expect(githubCacheScope(payload("main"))).toEqual({ repo: "octo-org/octo-repo", ref: "refs/heads/main" });
    expect(githubCacheScope(payload("feature/x-1"))).toEqual({ repo: "octo-org/octo-repo", ref: "refs/heads/feature/x-1" });
  });

  test("none when GitHub names no branch, or names one no git ref can be (the VM is then not bound)", () => {
    for (const b of [null, undefined, "", 42, "a b", "../../heads/main", "x\u0000y", "main/", "a//b", "x".repeat(201), "a:b", "a~1"]) expect(githubCacheScope(payload(b))).toBeUndefined();
    expect(githubCacheScope(payload("main", "../etc"))).toBeUndefined();
  });
});

let dir: string;
let caPem: string;
beforeAll(async () => {
  dir = tempDir("nimbus-rgw-unit-");
  caPem = readFileSync((await ensureGatewayCerts(join(dir, "tls"))).caCertPath, "utf8");
});
afterAll(() => removeDir(dir));

test("the CA vouches for the results host names only: a certificate it signs for another site does not verify", async () => {
  const tls = join(dir, "tls");
  const sign = (name: string) => {
    writeFileSync(join(tls, "other.ext"), `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${name}\n`);
    const steps = [
      ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other-key.pem", "-out", "other.csr", "-subj", `/CN=${name}`],
      ["x509", "-req", "-in", "other.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", "other.pem", "-days", "1", "-extfile", "other.ext"],
    ];
    for (const a of steps) expect(Bun.spawnSync(["openssl", ...a], { cwd: tls, stderr: "pipe" }).exitCode).toBe(0);
    return Bun.spawnSync(["openssl", "verify", "-CAfile", "ca.pem", "other.pem"], { cwd: tls, stdout: "pipe", stderr: "pipe" }).exitCode;
  };
  expect(sign(RESULTS_HOSTS[0]!)).toBe(0);
  for (const other of ["github.com", "api.github.com", "registry.npmjs.org", "evil-actions.githubusercontent.com.example"]) expect(sign(other)).not.toBe(0);
  // And the gateway's own certificate verifies against it.
  expect(Bun.spawnSync(["openssl", "verify", "-CAfile", "ca.pem", "results.pem"], { cwd: tls }).exitCode).toBe(0);
});

describe("guest config", () => {
  test("the results host names at the gateway address, the CA, NODE_EXTRA_CA_CERTS", () => {
    const setup = guestResultsSetup("10.88.0.1", caPem);
    expect(setup.env).toEqual({ NODE_EXTRA_CA_CERTS: GUEST_CA_PATH });
    const text = encodeGuestConfig({ hostname: "nimbus-gh-1-1", command: ["/runner/run.sh"], env: setup.env, ...setup.guest });
    const lines = text.split("\n");
    expect(lines.filter((l) => l.startsWith("host "))).toEqual(RESULTS_HOSTS.map((h) => `host 10.88.0.1 ${h}`));
    const ca = lines.filter((l) => l.startsWith("ca "));
    expect(ca.length).toBe(1);
    expect(Buffer.from(ca[0]!.slice(3), "base64").toString()).toBe(caPem);
    // A job that is not a GitHub job's VM has none of it.
    expect(encodeGuestConfig({ hostname: "nimbus-j-1", command: ["true"], env: {} })).not.toMatch(/^(host|ca) /m);
  });

  test("malformed names and certificates are refused before anything reaches a guest", () => {
    const base = { hostname: "nimbus-x-1", command: ["true"], env: {} };
    for (const hosts of [[{ ip: "10.88.0.1; rm -rf /", name: "a" }], [{ ip: "10.88.0.1", name: "a b" }], [{ ip: "10.88.0.1", name: "x\nenv Zm9v" }], [{ ip: "::1", name: "a" }]])
      expect(() => encodeGuestConfig({ ...base, hosts })).toThrow("is not an IPv4 address and a host name");
    for (const pem of ["not a cert", `${caPem}\narg ZXZpbA==`, caPem.replace("CERTIFICATE", "PRIVATE KEY"), ""])
      expect(() => encodeGuestConfig({ ...base, caPem: pem })).toThrow("guest config ca is not a PEM certificate");
  });

  test("the guest init writes them into the job root: hosts lines, the CA file, the system bundle", () => {
    const root = join(dir, "root");
    mkdirSync(join(root, "etc/ssl/certs"), { recursive: true });
    writeFileSync(join(root, "etc/hosts"), "127.0.0.1 localhost\n");
    writeFileSync(join(root, "etc/ssl/certs/ca-certificates.crt"), "EXISTING\n");
    const setup = guestResultsSetup("10.88.0.1", caPem);
    const config = join(dir, "config");
    writeFileSync(config, encodeGuestConfig({ hostname: "nimbus-gh-1-1", command: ["true"], env: setup.env, ...setup.guest }));
    const job = resolve(import.meta.dir, "../../agent/guest/job.sh");
    const r = Bun.spawnSync(["sh", "-c", `. "$1"; R=$2; CONFIG=$3; setup_names`, "sh", job, root, config], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(readFileSync(join(root, "etc/hosts"), "utf8")).toBe(`127.0.0.1 localhost\n${RESULTS_HOSTS.map((h) => `10.88.0.1 ${h}\n`).join("")}`);
    expect(readFileSync(join(root, GUEST_CA_PATH.slice(1)), "utf8")).toBe(caPem);
    expect(readFileSync(join(root, "etc/ssl/certs/ca-certificates.crt"), "utf8")).toBe(`EXISTING\n${caPem}`);
  });
});

test("the bridge policy: 443 on the gateway address redirected to the gateway's port, that port accepted only when redirected", () => {
  const rules = egressRuleset("nmbx0", "10.77.0.0/24", "10.77.0.1", { hostPorts: [{ port: 7074 }], redirects: [{ port: 443, to: 40443 }] });
  expect(rules).toContain('iifname "nmbx0" ip daddr 10.77.0.1 tcp dport 443 redirect to :40443');
  expect(rules).toContain('iifname "nmbx0" ip daddr 10.77.0.1 tcp dport 40443 ct original proto-dst 443 accept');
  expect(rules).not.toMatch(/dport 40443 accept/);
  expect(rules.match(/redirect/g)?.length).toBe(1);
  // No redirect asked for: no nat prerouting chain at all (the policy before the gateway).
  expect(egressRuleset("nmbx0", "10.77.0.0/24", "10.77.0.1", { hostPorts: [{ port: 7074 }] })).not.toContain("prerouting");
});

test("the address a VM is bound at: a QEMU instance's (cold or taken warm) and a Firecracker one's, without the prefix", () => {
  const inst = (meta: Record<string, unknown>) => ({ driver: "qemu", name: "nimbus-gh-1-1", jobId: "gh-1", attempt: 1, dir: "/x", meta });
  expect(guestAddress(inst({ ip: "10.88.0.2/24", tap: "nmb0" }))).toBe("10.88.0.2");
  expect(guestAddress(inst({ warmVm: "nimbus-warm-3", ip: "10.88.0.7/24" }))).toBe("10.88.0.7");
  expect(guestAddress(inst({ net: { ip: "10.88.0.9/24", gateway: "10.88.0.1" } }))).toBe("10.88.0.9");
  expect(guestAddress(inst({}))).toBeUndefined(); // no network: nothing to bind
});

describe("bind and unbind at a real gateway", () => {
  let cache: TestCache;
  let gateway: ResultsGateway;
  let github: ReturnType<typeof Bun.serve>;
  const upstream: { path: string; auth: string | null }[] = [];
  const HOST = RESULTS_HOSTS[0]!;
  const GITHUB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzY3AiOiJBY3Rpb25zLlJlc3VsdHMifQ.githubs-own";

  beforeAll(async () => {
    github = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => (upstream.push({ path: new URL(req.url).pathname, auth: req.headers.get("authorization") }), Response.json({ ok: false })) });
    cache = await startTestCache({ env: { NIMBUS_CACHE_TRUST_FORWARDED: "true" } });
    const certs = await ensureGatewayCerts(join(dir, "tls"));
    gateway = startResultsGateway({
      hostname: "127.0.0.1", port: await freePort(), tls: { cert: readFileSync(certs.certPath, "utf8"), key: readFileSync(certs.keyPath, "utf8") },
      cacheUrl: cache.url, upstreamUrl: `http://127.0.0.1:${github.port}`, log: createLogger("gateway-test"),
    });
  });
  afterAll(async () => {
    await gateway.stop();
    github.stop(true);
    await cache.cleanup();
  });

  /** A cache lookup from 127.0.0.1 with GitHub's token, as actions/cache in the guest sends it: the HTTP status. */
  async function lookup(): Promise<number> {
    const p = Bun.spawn(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", join(dir, "tls/ca.pem"), "--resolve", `${HOST}:${gateway.port}:127.0.0.1`,
      "-H", `Authorization: Bearer ${GITHUB_TOKEN}`, "-H", "content-type: application/json", "-d", '{"key":"k","restore_keys":[],"version":"v"}',
      `https://${HOST}:${gateway.port}/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL`], { stdout: "pipe" });
    return Number(await new Response(p.stdout).text());
  }

  test("bound: the job's token, the Nimbus cache answers; unbound by another owner: still bound; unbound by its owner: upstream, with GitHub's token", async () => {
    const bindings = new ResultsBindings(gateway);
    const before = upstream.length;
    expect(await lookup()).toBe(200); // unbound: upstream answered (the stand-in for GitHub)
    expect(upstream.slice(before)).toEqual([{ path: "/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL", auth: `Bearer ${GITHUB_TOKEN}` }]);

    bindings.bind("127.0.0.1", await cache.token("acme/app", { ref: "refs/heads/main" }), "nimbus-gh-1-1");
    const n = upstream.length;
    expect(await lookup()).toBe(200); // the Nimbus cache took the job's token (a miss)
    expect(upstream.length).toBe(n);
    expect(bindings.bound()).toEqual({ "127.0.0.1": "nimbus-gh-1-1" });

    bindings.unbind("127.0.0.1", "nimbus-gh-0-1"); // a job whose VM had the address before: not its binding
    expect(await lookup()).toBe(200);
    expect(upstream.length).toBe(n);

    bindings.unbind("127.0.0.1", "nimbus-gh-1-1");
    expect(bindings.bound()).toEqual({});
    expect(await lookup()).toBe(200);
    expect(upstream.slice(n)).toEqual([{ path: "/twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL", auth: `Bearer ${GITHUB_TOKEN}` }]);
  });

  test("with no fixed upstream, an unbound call goes only to a results host: a guest naming another host in Host gets 421, not a proxy", async () => {
    const certs = await ensureGatewayCerts(join(dir, "tls"));
    const open = startResultsGateway({
      hostname: "127.0.0.1", port: await freePort(), tls: { cert: readFileSync(certs.certPath, "utf8"), key: readFileSync(certs.keyPath, "utf8") },
      cacheUrl: cache.url, log: createLogger("gateway-test"),
    });
    try {
      const n = upstream.length;
      for (const host of [`127.0.0.1:${github.port}`, "metadata.google.internal", "169.254.169.254"]) {
        const p = Bun.spawn(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", join(dir, "tls/ca.pem"), "--resolve", `${HOST}:${open.port}:127.0.0.1`,
          "-H", `Host: ${host}`, "-d", "{}", `https://${HOST}:${open.port}/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact`], { stdout: "pipe" });
        expect(await new Response(p.stdout).text()).toBe("421");
      }
      expect(upstream.length).toBe(n);
    } finally {
      await open.stop();
    }
  });
});
