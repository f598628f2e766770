/** Streams that survive: a cut follow resumes with no gap and no duplicate; unknown jobs are 404; an unreachable service is named. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { testStack, type TestStack } from "../support/stack.ts";
import { tcpProxy, type TcpProxy } from "../support/proxy.ts";
import { freePort } from "../support/net.ts";
import { ApiClient } from "../../src/cli/client.ts";
import { newJobId } from "../../src/core/ids.ts";
import type { JobEvent } from "../../src/jobs/events.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");

let s: TestStack;
let logsProxy: TcpProxy;
let controlProxy: TcpProxy;
beforeAll(async () => {
  s = await testStack();
  await s.waitAgents(1);
  logsProxy = await tcpProxy(Number(new URL(s.logsUrl).port));
  controlProxy = await tcpProxy(Number(new URL(s.controlUrl).port));
}, 30_000);
afterAll(async () => {
  await logsProxy?.stop();
  await controlProxy?.stop();
  await s?.destroy();
}, 30_000);

describe("a follow that is cut mid-stream", () => {
  test("log lines resume from the last one received: none lost, none twice", async () => {
    const job = await s.submit({ command: ["sh", "-c", "i=1; while [ $i -le 40 ]; do echo line $i; i=$((i+1)); sleep 0.05; done"] });
    const api = new ApiClient(s.controlUrl, logsProxy.url, s.adminToken);
    const resumes: string[] = [];
    const got: string[] = [];
    for await (const l of api.followLogs(job.id, 0, { onResume: (c) => resumes.push(c) })) {
      got.push(l.text);
      if (got.length === 8) logsProxy.cutAll(); // lines after the 8th may be in flight on the cut connection
    }
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i + 1}`));
    expect(resumes.length).toBeGreaterThanOrEqual(1);
    const follows = logsProxy.requestsTo(`/v1/jobs/${job.id}/logs/follow`);
    expect(follows.length).toBeGreaterThanOrEqual(2);
    expect(follows[0]!.head.toLowerCase()).not.toContain("last-event-id");
    expect(follows[1]!.head.toLowerCase()).toContain("last-event-id: 8\r\n");
  }, 30_000);

  test("job events resume after the last event received", async () => {
    const job = await s.submit({ command: ["sh", "-c", "sleep 1"] });
    const api = new ApiClient(controlProxy.url, s.logsUrl, s.adminToken);
    const abort = new AbortController();
    const got: JobEvent[] = [];
    for await (const e of api.events(job.id, { signal: abort.signal })) {
      got.push(e);
      if (got.length === 1) controlProxy.cutAll();
      if (e.to === "succeeded") abort.abort();
    }
    const all = (await s.api<{ events: JobEvent[] }>(`/api/jobs/${job.id}/events`)).body.events;
    expect(got.map((e) => e.revision)).toEqual(all.map((e) => e.revision));
    expect(got.at(-1)!.to).toBe("succeeded");
    expect(controlProxy.requestsTo(`/api/jobs/${job.id}/events`).length).toBeGreaterThanOrEqual(2);
  }, 30_000);
});

describe("following a job that does not exist", () => {
  test("the log service and the control plane answer 404 with a code, at once", async () => {
    const id = newJobId();
    const logs = await s.api(`/v1/jobs/${id}/logs/follow`);
    expect(logs.status).toBe(404);
    expect(logs.body).toEqual({ code: "not_found", message: `job ${id} not found` });
    const events = await s.api(`/api/jobs/${id}/events?follow=1`);
    expect(events.status).toBe(404);
    expect(events.body.code).toBe("not_found");
  });

  test("a real job that has not printed anything yet is followable", async () => {
    const job = await s.submit({ command: ["true"], labels: ["nimbus", "isolation:vm"] }); // no microVM agent here: it stays queued, with no line logged
    const abort = new AbortController();
    const res = await fetch(`${s.logsUrl}/v1/jobs/${job.id}/logs/follow`, { headers: { authorization: `Bearer ${s.adminToken}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const first = await res.body!.getReader().read();
    expect(new TextDecoder().decode(first.value)).toBe(": open\n\n");
    abort.abort();
    await s.api(`/api/jobs/${job.id}/cancel`, { method: "POST" });
  });
});

describe("a service that is really down", () => {
  test("the CLI names it, in our words", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const job = await s.submit({ command: ["echo", "hi"] });
    await s.waitJob(job.id);
    const env = { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: s.adminToken, NIMBUS_LOGS_URL: closed };
    const p = Bun.spawnSync([BIN, "logs", job.id], { env, stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(1);
    const err = p.stderr.toString();
    expect(err).toContain(`cannot reach the log service at ${closed} (connection refused). Is the stack up? (nimbus up)`);
    expect(err).not.toContain("ECONNREFUSED");
  });

  test("a follow retries, then gives up after its bound, saying which service", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const api = new ApiClient(s.controlUrl, closed, s.adminToken);
    const resumes: string[] = [];
    const follow = (async () => {
      for await (const _ of api.followLogs(newJobId(), 0, { giveUpMs: 1000, onResume: (c) => resumes.push(c) }));
    })();
    await expect(follow).rejects.toThrow(`cannot reach the log service at ${closed} (connection refused), and it stayed unreachable for 1 s`);
    expect(resumes.length).toBeGreaterThanOrEqual(2);
    expect(new Set(resumes)).toEqual(new Set(["connection refused"]));
  });
});
