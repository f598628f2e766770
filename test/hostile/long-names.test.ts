/**
 * Issue #11 part 4, defects 2 and 6, against a real nats-server and the real control plane over HTTP:
 * a long name from a signed webhook never reaches a NATS key as is (nats-server would drop the
 * control plane's connection, failing everyone's deliveries); a record past the server's
 * max_payload is refused with 413 before anything is written; a rejected job's labels are logged
 * as a bounded summary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomUUID, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Webhooks } from "@octokit/webhooks";
import { startNats, type NatsServer } from "../support/nats.ts";
import { freePort } from "../support/net.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { controlSettings } from "../../src/control/config.ts";
import { startControlPlane, type RunningControlPlane } from "../../src/control/server.ts";
import { QUEUE_STREAM, EVENTS_STREAM } from "../../src/nats/topology.ts";
import { keyOf, keyToken, KEY_TOKEN_MAX } from "../../src/nats/keys.ts";
import { maxPayloadOf } from "../../src/nats/limits.ts";

const FIXTURES = resolve(import.meta.dir, "../fixtures/github-webhooks/examples");
const SECRET = "webhook-secret-for-tests-0123456789";
const webhooks = new Webhooks({ secret: SECRET });

let nats: NatsServer;
let cp: RunningControlPlane;
const statuses: string[] = [];

let nextId = 7_000_000;
function queued(o: { labels?: string[]; owner?: string; org?: string | null; action?: string; runnerName?: string } = {}): any {
  const action = o.action ?? "queued";
  const p = JSON.parse(readFileSync(`${FIXTURES}/${action === "queued" ? "queued" : "in_progress"}.payload.json`, "utf8"));
  p.action = action;
  p.workflow_job = { ...p.workflow_job, id: nextId++, labels: o.labels ?? ["self-hosted", "nimbus"], status: action, runner_name: o.runnerName ?? null, runner_id: o.runnerName ? 7 : null };
  if (o.owner) p.repository = { ...p.repository, owner: { ...p.repository.owner, login: o.owner }, full_name: `${o.owner}/${p.repository.name}` };
  if (o.org === null) delete p.organization;
  else p.organization = { login: o.org ?? "octo-org", id: 1 };
  p.installation = { id: 4242 };
  return p;
}

async function deliver(payload: unknown): Promise<{ status: number; body: any }> {
  const body = JSON.stringify(payload);
  const res = await fetch(`${cp.url}/webhooks/github`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "workflow_job", "x-github-delivery": randomUUID(), "x-hub-signature-256": await webhooks.sign(body) },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const queueCount = async () => (await cp.ctx.topology.jsm.streams.info(QUEUE_STREAM)).state.messages;
const eventCount = async () => (await cp.ctx.topology.jsm.streams.info(EVENTS_STREAM)).state.messages;

beforeAll(async () => {
  nats = await startNats();
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  cp = await startControlPlane(
    loadConfig(controlSettings, {
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_AUTH_SECRET: "a".repeat(40),
      NIMBUS_SECRETS_KEY: Buffer.alloc(32, 3).toString("base64url"),
      NIMBUS_CONTROL_PORT: String(await freePort()),
      NIMBUS_GITHUB_WEBHOOK_SECRET: SECRET,
      NIMBUS_GITHUB_APP_ID: "1",
      NIMBUS_GITHUB_APP_PRIVATE_KEY: key,
      NIMBUS_GITHUB_API_URL: "http://127.0.0.1:9", // nothing answers: intake never calls GitHub
      NIMBUS_ORG_SUBMISSIONS_PER_WINDOW: "100000",
      NIMBUS_GITHUB_POLL_INTERVAL_MS: "3600000",
    }),
  );
  (async () => {
    for await (const s of cp.ctx.nc.status()) statuses.push(s.type);
  })();
}, 30_000);

afterAll(async () => {
  await cp?.stop();
  await nats?.stop();
});

describe("keyToken", () => {
  test("plain short parts are kept; long or odd ones become a bounded hash that cannot collide with a plain one", () => {
    expect(keyToken("octo-org")).toBe("octo-org");
    expect(keyToken(42)).toBe("42");
    const long = keyToken("x".repeat(5000));
    expect(long.length).toBeLessThanOrEqual(KEY_TOKEN_MAX);
    expect(long).toMatch(/^[A-Za-z0-9_-]+=[A-Za-z0-9_-]+$/);
    expect(keyToken("x".repeat(5000))).toBe(long);
    expect(keyToken("x".repeat(5001))).not.toBe(long);
    expect(keyToken("a.b")).not.toBe(keyToken("a_b"));
    expect(keyToken("a.b")).not.toContain(".");
    expect(keyToken("*")).not.toContain("*");
    expect(keyToken("")).not.toBe("");
    expect(keyOf("runner", "GitHub Actions 5")).toMatch(/^runner\.[A-Za-z0-9_=-]+$/);
  });
});

describe("defect 2: a long name cannot disconnect the control plane", () => {
  test("a ~5,000-character owner login and runner name, sent with valid deliveries: every valid one is accepted, NATS never disconnects", async () => {
    const login = "o".repeat(5000);
    const valid = Array.from({ length: 30 }, () => queued());
    const hostile = [
      queued({ owner: login, org: null }),
      queued({ org: login }),
      queued({ action: "in_progress", runnerName: `nimbus-${"r".repeat(5000)}-1` }),
      queued({ action: "in_progress", runnerName: "GitHub Actions " + "g".repeat(5000) }),
    ];
    const all = await Promise.all([...hostile, ...valid].map((p) => deliver(p)));
    const valids = all.slice(hostile.length);
    for (const r of valids) expect(r).toMatchObject({ status: 201, body: { outcome: "created" } });
    for (const r of all.slice(0, hostile.length)) expect(r.status).toBeLessThan(500);
    // One more round after the hostile ones: the connection still serves everyone.
    expect((await deliver(queued())).status).toBe(201);
    expect(cp.ctx.nc.isClosed()).toBe(false);
    expect(statuses.filter((s) => s === "disconnect" || s === "reconnect" || s === "error")).toEqual([]);
  }, 60_000);

  test("a 200,000-label job is refused at intake naming the labels limit; nothing is written", async () => {
    const labels = ["nimbus", ...Array.from({ length: 200_000 }, (_, i) => `label-${i}`)];
    const p = queued({ labels });
    const [queueBefore, eventsBefore] = [await queueCount(), await eventCount()];
    const r = await deliver(p);
    // A workflow_job carries at most 100 labels (src/http/webhook-body.ts): refused before any record,
    // so it never comes near NATS's payload limit (maxPayloadOf: a record is kept under it).
    expect(r.status).toBe(400);
    expect(r.body.message).toContain("workflow_job.labels must be a list of at most 100 strings");
    expect(maxPayloadOf(cp.ctx.nc)).toBeGreaterThan(4096);
    expect(await cp.ctx.store.get(`gh-${p.workflow_job.id}`)).toBeNull();
    expect(await queueCount()).toBe(queueBefore);
    expect(await eventCount()).toBe(eventsBefore);
    expect(cp.ctx.nc.isClosed()).toBe(false);
    expect((await deliver(queued())).status).toBe(201);
  }, 60_000);
});

describe("defect 6: request-derived values are logged bounded", () => {
  test("a refused 100,000-label job produces no log line over 4 KB, and no job", async () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
      return (write as any)(chunk, ...rest);
    }) as typeof process.stderr.write;
    let r;
    try {
      r = await deliver(queued({ labels: ["nimbus", ...Array.from({ length: 100_000 }, (_, i) => `z${i % 10}`)] }));
    } finally {
      process.stderr.write = write;
    }
    expect(r.status).toBe(400);
    expect(r.body.message).toContain("at most 100");
    expect(r.body.jobId).toBeUndefined();
    for (const l of lines.join("").split("\n")) expect(l.length).toBeLessThan(4096);
  }, 60_000);
});
