/**
 * Issue #11 part 4, defect 3: body limits hold for chunked bodies (no Content-Length to trust), on
 * the control plane's webhook and jobs routes and the log service's ingest; an unauthenticated body
 * is refused before it is read. The client is a raw socket sending chunked HTTP/1.1 as fast as the
 * server takes it, so what it managed to send before the answer is what the server read (plus
 * the kernel's socket buffers).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { Webhooks } from "@octokit/webhooks";
import { startNats, type NatsServer } from "../support/nats.ts";
import { freePort } from "../support/net.ts";
import { loadConfig } from "../../src/core/config/load.ts";
import { logSettings } from "../../src/logs/config.ts";
import type { RunningControlPlane } from "../../src/control/server.ts";
import { testControlPlane } from "../support/control.ts";
import { startLogService } from "../../src/logs/server.ts";
import { LOG_CREDENTIAL_HEADER, mintLogCredential } from "../../src/auth/log-credential.ts";
import { bootstrapToken } from "../../src/auth/mint.ts";

const SECRET = "webhook-secret-for-tests-0123456789";
const AUTH = "a".repeat(40);
const MB = 1024 * 1024;
/** The client's chunk size; the limits are multiples of it. */
const CHUNK = 64 * 1024;
let nats: NatsServer;
let cp: RunningControlPlane;
let logs: { url: string; stop(): Promise<void> };
let dir: string;
let admin: string;

interface Sent {
  status: number;
  /** Body bytes the client got onto the socket before the answer came (or the socket closed). */
  sentBytes: number;
  body: string;
}

/**
 * POST a chunked body of `total` bytes (from `source(offset, n)`), stopping as soon as the server
 * answers. With `pauseAfter`, the client stops writing after that many bytes (the body unfinished)
 * and waits for the answer: a server that answers then did so without the body's end. The refusal
 * tests pause one chunk past the limit, so the server has read all that was sent when it refuses:
 * a server that closes with unread bytes resets the connection, and a client still writing can
 * lose the answer to that reset (seen on a loaded machine).
 */
function sendChunked(url: string, path: string, headers: Record<string, string>, total: number, source: (offset: number, n: number) => Buffer, pauseAfter = total): Promise<Sent> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    let sent = 0;
    let answered = false;
    let response = "";
    const finish = () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(response);
      if (!m) return reject(new Error(`no HTTP answer (sent ${sent} bytes): ${response.slice(0, 200)}`));
      const body = response.slice(response.indexOf("\r\n\r\n") + 4);
      resolve({ status: Number(m[1]), sentBytes: sent, body });
    };
    sock.on("data", (d) => {
      response += d.toString("latin1");
      answered = true;
      if (response.includes("\r\n\r\n")) setTimeout(() => sock.destroy(), 50); // enough for the (small) answer body
    });
    sock.on("close", finish);
    sock.on("error", () => {}); // a reset after the server stopped reading is expected; close follows
    sock.on("connect", () => {
      const head = Object.entries({ host: u.host, "transfer-encoding": "chunked", connection: "close", ...headers }).map(([k, v]) => `${k}: ${v}`).join("\r\n");
      sock.write(`POST ${path} HTTP/1.1\r\n${head}\r\n\r\n`);
      const pump = () => {
        while (!answered && sent < Math.min(total, pauseAfter)) {
          const n = Math.min(CHUNK, total - sent);
          const chunk = source(sent, n);
          sent += n;
          const ok = sock.write(Buffer.concat([Buffer.from(`${n.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]));
          if (!ok) return void sock.once("drain", pump);
        }
        if (!answered && sent >= total) sock.write("0\r\n\r\n");
        else if (!answered) setTimeout(() => answered || sock.destroy(), 20_000); // paused: the answer is due now
      };
      pump();
    });
  });
}

const filler = (offset: number, n: number) => Buffer.alloc(n, 0x20); // JSON whitespace
/** A body: `json`, then spaces up to `total` bytes. */
const padded = (json: string) => (offset: number, n: number) => {
  const b = Buffer.alloc(n, 0x20);
  if (offset < json.length) Buffer.from(json.slice(offset, offset + n)).copy(b);
  return b;
};

beforeAll(async () => {
  nats = await startNats();
  dir = mkdtempSync(join(tmpdir(), "nimbus-chunked-"));
  cp = await testControlPlane({ natsUrl: nats.url, authSecret: AUTH, webhookSecret: SECRET });
  logs = await startLogService(loadConfig(logSettings, { NIMBUS_NATS_URL: nats.url, NIMBUS_AUTH_SECRET: AUTH, NIMBUS_LOGS_PORT: String(await freePort()), NIMBUS_LOGS_DB: join(dir, "logs.sqlite") }));
  admin = (await bootstrapToken(cp.ctx.tokens, { sub: "admin", role: "operator", ttlSeconds: 600 })).token;
}, 30_000);

afterAll(async () => {
  await logs?.stop();
  await cp?.stop();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const rss = () => {
  Bun.gc(true);
  return process.memoryUsage().rss;
};

describe("webhook", () => {
  test("an unsigned chunked 30 MB body is refused 401 without being read; memory stays flat", async () => {
    const before = rss();
    const r = await sendChunked(cp.url, "/webhooks/github", { "x-github-event": "workflow_job", "x-github-delivery": randomUUID() }, 30 * MB, filler, 8 * MB);
    expect(r.status).toBe(401);
    expect(r.sentBytes).toBeLessThanOrEqual(8 * MB); // socket buffers at most; the body itself was never read
    const malformed = await sendChunked(cp.url, "/webhooks/github", { "x-hub-signature-256": "sha256=nothex", "x-github-event": "ping", "x-github-delivery": randomUUID() }, 30 * MB, filler, 8 * MB);
    expect(malformed.status).toBe(401);
    expect(malformed.sentBytes).toBeLessThanOrEqual(8 * MB);
    expect(rss() - before).toBeLessThan(20 * MB);
  }, 60_000);

  test("a signed chunked body over 25 MB is 413 once 25 MB have streamed in; one just under is accepted", async () => {
    const webhooks = new Webhooks({ secret: SECRET });
    const over = await sendChunked(cp.url, "/webhooks/github", { "x-hub-signature-256": `sha256=${"0".repeat(64)}`, "x-github-event": "ping", "x-github-delivery": randomUUID() }, 30 * MB, filler, 25 * MB + CHUNK);
    expect(over.status).toBe(413);
    expect(JSON.parse(over.body)).toMatchObject({ code: "payload_too_large" });
    expect(over.sentBytes).toBeLessThan(25 * MB + 8 * MB);

    const json = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
    const size = 25 * MB - 1024;
    const body = Buffer.alloc(size, 0x20);
    Buffer.from(json).copy(body);
    const sig = await webhooks.sign(body.toString("utf8"));
    const under = await sendChunked(cp.url, "/webhooks/github", { "x-hub-signature-256": sig, "x-github-event": "ping", "x-github-delivery": randomUUID() }, size, (o, n) => body.subarray(o, o + n));
    expect(under.status).toBe(200);
    expect(JSON.parse(under.body)).toMatchObject({ outcome: "pong" });
  }, 120_000);
});

describe("token before body", () => {
  test("an unauthenticated chunked body to /api/jobs and /v1/logs is 401 early", async () => {
    for (const [url, path] of [[cp.url, "/api/jobs"], [logs.url, "/v1/logs"]] as const) {
      const r = await sendChunked(url, path, { "content-type": "application/json" }, 30 * MB, filler, 8 * MB);
      expect(r.status).toBe(401);
      expect(r.sentBytes).toBeLessThanOrEqual(8 * MB);
    }
  }, 60_000);

  test("an authenticated chunked body past the limit is 413 while streaming; just under it works", async () => {
    const auth = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const over = await sendChunked(cp.url, "/api/jobs", auth, 30 * MB, filler, 1 * MB + CHUNK);
    expect(over.status).toBe(413);
    expect(over.sentBytes).toBeLessThan(1 * MB + 8 * MB);
    // Log batches come from an agent with its attempt's log credential (operators do not ingest).
    const agent = (await bootstrapToken(cp.ctx.tokens, { sub: "agent-1", role: "agent", ttlSeconds: 600 })).token;
    const credential = await mintLogCredential(AUTH, { jobId: "j-chunked", attempt: 1, agentId: "agent-1", org: "default", ttlSeconds: 600 });
    const logsAuth = { authorization: `Bearer ${agent}`, [LOG_CREDENTIAL_HEADER]: credential, "content-type": "application/json" };
    const logsOver = await sendChunked(logs.url, "/v1/logs", logsAuth, 30 * MB, filler, 8 * MB + CHUNK);
    expect(logsOver.status).toBe(413);

    const spec = JSON.stringify({ command: ["true"], labels: ["nimbus"] });
    const ok = await sendChunked(cp.url, "/api/jobs", auth, 1 * MB - 16, padded(spec));
    expect(ok.status).toBe(201);
    expect(JSON.parse(ok.body).job.state).toBe("queued");
  }, 60_000);
});
