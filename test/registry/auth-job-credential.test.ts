/**
 * A job's registry credential, end to end on the real pieces: the control plane's claim-time
 * handout mints it for the job's org (for the lease holder only; nothing of it in the job's KV
 * record or in JetStream's files); the agent's prelude writes it as the job's Docker config.json
 * (mode 0600, the content variable unset before the job's command), and unmodified skopeo in that
 * environment pulls from the job's org and is refused elsewhere.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats, type NatsServer } from "../support/nats.ts";
import { connectNats } from "../../src/nats/connect.ts";
import { ensureTopology, type Topology } from "../../src/nats/topology.ts";
import { JobStore } from "../../src/jobs/store.ts";
import { Lease } from "../../src/jobs/lifecycle/lease.ts";
import { tryTransition } from "../../src/jobs/lifecycle/transition.ts";
import { submitJob } from "../../src/jobs/submit.ts";
import { parseJobSpec } from "../../src/jobs/spec.ts";
import { requestHandout } from "../../src/jobs/handout.ts";
import { startHandoutService } from "../../src/control/handout.ts";
import { sealJobSecrets } from "../../src/auth/seal.ts";
import { mintToken } from "../../src/auth/tokens.ts";
import { verifyRegistryCredential } from "../../src/auth/registry-credential.ts";
import { createLogger } from "../../src/core/log.ts";
import { jobRegistryAuth, JOB_DOCKER_CONFIG_DIR } from "../../agent/registry-auth.ts";
import { MANIFEST_DIGEST, SECRET, startTestRegistry, type TestRegistry } from "./auth-support.ts";

const KEY = new Uint8Array(32).fill(3);
let nats: NatsServer;
let nc: NatsConnection;
let t: Topology;
let store: JobStore;
let service: { stop(): void };
let reg: TestRegistry;
let dir: string;

beforeAll(async () => {
  nats = await startNats();
  nc = await connectNats({ url: nats.url, name: "test" });
  t = await ensureTopology(nc);
  store = new JobStore(t.jobs, t.js);
  service = startHandoutService({ nc, store, leases: t.leases, secretsKey: KEY, authSecret: SECRET, log: createLogger("test") });
  reg = await startTestRegistry(nats.url);
  dir = mkdtempSync(join(tmpdir(), "nimbus-regjob-"));
}, 30_000);

afterAll(async () => {
  await reg?.stop();
  service?.stop();
  await nc?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const filesUnder = (d: string): string[] => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? filesUnder(join(d, n)) : [join(d, n)]));

async function claimedHandout(org: string) {
  const deps = { store, labels: { baseLabel: "nimbus", defaultIsolation: "sandbox" as const }, maxAttempts: 2, cache: true, seal: (id: string, p: any) => sealJobSecrets(KEY, id, p) };
  const { job } = await submitJob(deps, parseJobSpec({ command: ["true"] }), { sub: "bob", org });
  const lease = (await Lease.acquire(t.leases, { jobId: job.value.id, agentId: "agent-a", attempt: 1, ttlMs: 60_000 }))!;
  if ((await tryTransition(store, job, "leased", { agentId: "agent-a" })) === "stale") throw new Error("stale");
  const agentToken = (await mintToken(SECRET, { sub: "agent-a", role: "agent", ttlSeconds: 600 })).token;
  const h = await requestHandout(nc, { jobId: job.value.id, attempt: 1, agentId: "agent-a", leaseRevision: lease.revision, agentToken });
  return { job, h, lease, agentToken };
}

test("the handout carries a registry credential for the job's org; the record at rest never holds it", async () => {
  const { job, h } = await claimedHandout("acme");
  expect(h.registryCredential).toBeString();
  const c = await verifyRegistryCredential(SECRET, h.registryCredential);
  expect(c).toMatchObject({ jobId: job.value.id, attempt: 1, org: "acme" });
  expect(c.exp - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(job.value.timeoutSeconds + 600);
  const raw = new TextDecoder().decode((await t.jobs.get(job.value.id))!.value);
  expect(raw).toContain(job.value.id);
  const body = h.registryCredential!.split(".")[2]!;
  expect(raw).not.toContain(body);
  expect(Buffer.concat(filesUnder(nats.dir).map((f) => readFileSync(f))).includes(Buffer.from(body))).toBe(false);
});

test("another agent gets no credential", async () => {
  const { job, lease } = await claimedHandout("acme");
  const tokenB = (await mintToken(SECRET, { sub: "agent-b", role: "agent", ttlSeconds: 600 })).token;
  await expect(requestHandout(nc, { jobId: job.value.id, attempt: 1, agentId: "agent-b", leaseRevision: lease.revision, agentToken: tokenB })).rejects.toMatchObject({ code: "forbidden" });
});

test("the job's environment: config.json written 0600 by the prelude, skopeo pulls from the job's org only", async () => {
  const { h } = await claimedHandout("acme");
  const auth = jobRegistryAuth(reg.host, h.registryCredential!);
  const configDir = join(dir, "docker");
  const env = { PATH: process.env.PATH!, HOME: dir, ...auth.env, ...auth.secrets, DOCKER_CONFIG: configDir, REGISTRY_AUTH_FILE: join(configDir, "config.json") };
  expect(auth.env.DOCKER_CONFIG).toBe(JOB_DOCKER_CONFIG_DIR);
  const script = `test -z "$NIMBUS_DOCKER_CONFIG_JSON" || exit 9; stat -c %a "$REGISTRY_AUTH_FILE"; skopeo inspect --tls-verify=false docker://${reg.host}/acme/app:latest; skopeo inspect --tls-verify=false docker://${reg.host}/other/app:latest >/dev/null 2>&1 && exit 7; exit 0`;
  const p = Bun.spawn(auth.wrap(["sh", "-c", script]), { env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const [mode, ...json] = out.split("\n");
  expect(mode).toBe("600");
  expect(JSON.parse(json.join("\n")).Digest).toBe(MANIFEST_DIGEST);
  const written = JSON.parse(readFileSync(join(configDir, "config.json"), "utf8"));
  expect(Buffer.from(written.auths[reg.host].auth, "base64").toString()).toBe(`nimbus-job:${h.registryCredential}`);
  expect(auth.mask).toContain(h.registryCredential!);
});
