/**
 * The log service on the ClickHouse backend (chdb's engine behind `@clickhouse/client`), as two
 * stateless replicas on one store with a real nats-server: a batch ingested through one is read,
 * searched and tailed through the other, a live search open on the second sees the lines the first
 * stored, a resent batch is stored once, and another org's member finds none of it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LOG_CREDENTIAL_HEADER } from "../../src/auth/log-credential.ts";
import { recordedToken } from "../support/tokens.ts";
import { waitFor } from "../support/net.ts";
import { chdbClient } from "../support/chdb.ts";
import { startLogsBed, type LogsBed } from "./bed.ts";

const AUTH = "clickhouse-log-service-secret-0123456789";
let bed: LogsBed;
let agentToken: string;
const readers: Record<string, string> = {};

beforeAll(async () => {
  bed = await startLogsBed(AUTH, "logs-ch", { clickhouse: chdbClient, replicas: 2 });
  agentToken = await recordedToken(bed.nats.url, AUTH, { sub: "agent-c", role: "agent", ttlSeconds: 600 });
  for (const org of ["acme", "globex"]) readers[org] = await recordedToken(bed.nats.url, AUTH, { sub: `reader-${org}`, role: "member", org, ttlSeconds: 600 });
}, 60_000);
afterAll(() => bed?.stop());

const post = (url: string, credential: string, body: unknown) =>
  fetch(`${url}/v1/logs`, { method: "POST", headers: { authorization: `Bearer ${agentToken}`, [LOG_CREDENTIAL_HEADER]: credential, "content-type": "application/json" }, body: JSON.stringify(body) });
const get = async (url: string, path: string, org: string) => {
  const r = await fetch(url + path, { headers: { authorization: `Bearer ${readers[org]}` } });
  return { status: r.status, body: (await r.json()) as any };
};

describe("the log service on ClickHouse, two replicas", () => {
  test("ingested through one, read, searched and followed live through the other; stored once; org-scoped", async () => {
    const [a, b] = [bed.replicas[0]!, bed.replicas[1]!];
    const { job, credential } = await bed.leasedJob("agent-c", agentToken, "acme");
    // A live search on replica B, open before anything is stored.
    const abort = new AbortController();
    const live = await fetch(`${b.url}/v1/logs/search/follow?q=${encodeURIComponent("level:error")}`, { headers: { authorization: `Bearer ${readers.acme}` }, signal: abort.signal });
    expect(live.status).toBe(200);
    let seen = "";
    const reading = (async () => {
      for await (const c of live.body as unknown as AsyncIterable<Uint8Array>) seen += new TextDecoder().decode(c);
    })().catch(() => {});
    await Bun.sleep(300);
    const batch = { jobId: job.value.id, attempt: 1, lines: [{ n: 0, ts: Date.now(), stream: "out", text: "##[group]Build" }, { n: 1, ts: Date.now(), stream: "out", text: "##[error]linker failed" }] };
    expect((await (await post(a.url, credential, batch)).json()).inserted).toBe(2);
    expect((await (await post(b.url, credential, batch)).json()).inserted).toBe(0); // resent through the other replica
    await waitFor(() => seen.includes("linker failed"), 10_000, "the live line on the other replica");
    abort.abort();
    await reading;
    expect(seen).toContain('"step":"Build"');
    const tail = await get(b.url, `/v1/jobs/${job.value.id}/logs`, "acme");
    expect(tail.status).toBe(200);
    expect(tail.body.lines.map((l: { text: string }) => l.text)).toEqual(["##[group]Build", "##[error]linker failed"]);
    const found = await get(b.url, `/v1/logs/search?q=${encodeURIComponent("linker step:Build")}`, "acme");
    expect(found.body.lines).toHaveLength(1);
    expect(found.body.lines[0]).toMatchObject({ jobId: job.value.id, org: "acme", level: "error", agent: "agent-c", status: "running" });
    expect((await get(a.url, `/v1/logs/search?q=linker`, "globex")).body.lines).toEqual([]);
    expect((await get(b.url, `/v1/jobs/${job.value.id}/logs`, "globex")).status).toBe(404);
  }, 60_000);
});
