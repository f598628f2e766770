/**
 * The CLI's retries (src/cli/retry.ts) against real HTTP servers, and a control plane restarted while
 * the CLI works against it (a rolling upgrade's step): no command fails.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { safeToRepeat, withRetries } from "../../src/cli/retry.ts";
import { freePort } from "../support/net.ts";
import { testStack, type TestStack } from "../support/stack.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");

function server(answer: (n: number) => Response) {
  let n = 0;
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => answer(++n) });
  return { url: `http://127.0.0.1:${s.port}`, calls: () => n, stop: () => s.stop(true) };
}
const send = (path: string, init: RequestInit) => (base: string) => fetch(base + path, init);

test("a replica that is down or answers 503 is passed over for the next; a full round waits and tries again", async () => {
  const down = `http://127.0.0.1:${await freePort()}`;
  const busy = server(() => new Response("restarting", { status: 503 }));
  const ok = server(() => Response.json({ ok: true }));
  const r = await withRetries([down, busy.url, ok.url], {}, send("/x", {}), 5_000, undefined, () => {});
  expect(await r.json()).toEqual({ ok: true });
  expect(busy.calls()).toBe(1);
  // One replica that comes back after two 503s: the third try succeeds.
  const flaky = server((n) => (n <= 2 ? new Response("", { status: 503 }) : Response.json({ n })));
  expect(await (await withRetries([flaky.url], {}, send("/x", {}), 5_000, async () => {}, () => {})).json()).toEqual({ n: 3 });
  for (const s of [busy, ok, flaky]) s.stop();
});

test("a write without an idempotency key is sent once (unless its connection was refused); with one, or a read, it is retried; a 4xx or 500 is never retried", async () => {
  const busy = server(() => new Response("", { status: 503 }));
  const post = { method: "POST", body: "{}" };
  expect((await withRetries([busy.url], post, send("/x", post), 5_000, async () => {}, () => {})).status).toBe(503);
  expect(busy.calls()).toBe(1);
  expect(safeToRepeat({ method: "POST", headers: { "idempotency-key": "k" } })).toBe(true);
  expect(safeToRepeat({ method: "POST", body: JSON.stringify({ command: ["x"], idempotencyKey: "cli-1" }) })).toBe(true);
  expect(safeToRepeat({ method: "PUT", body: "{}" })).toBe(false);
  // A refused connection reached no server: even a plain write goes to the next replica.
  const down = `http://127.0.0.1:${await freePort()}`;
  const ok = server(() => Response.json({ ok: true }));
  expect((await withRetries([down, ok.url], post, send("/x", post), 5_000, async () => {}, () => {})).status).toBe(200);
  ok.stop();
  expect(safeToRepeat({})).toBe(true);
  for (const status of [400, 404, 409, 500]) {
    const s = server(() => new Response("", { status }));
    expect((await withRetries([s.url], {}, send("/x", {}), 5_000, async () => {}, () => {})).status).toBe(status);
    expect(s.calls()).toBe(1);
    s.stop();
  }
  // Retrying stops when the time is up: the last answer is what the caller sees.
  const t0 = Date.now();
  const said: string[] = [];
  expect((await withRetries([busy.url], {}, send("/x", {}), 300, undefined, (l) => said.push(l))).status).toBe(503);
  expect(said).toEqual([`nimbus: the control plane at ${busy.url} is not answering (HTTP 503); retrying for up to 0 s`]);
  expect(Date.now() - t0).toBeLessThan(2_000);
  busy.stop();
});

let s: TestStack;
beforeAll(async () => {
  s = await testStack({});
}, 60_000);
afterAll(async () => {
  await s?.destroy();
}, 60_000);

test("while the control plane restarts, nimbus run and nimbus jobs list go on: no command fails, no job is made twice", async () => {
  await s.waitAgents(1);
  const env = { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: s.adminToken };
  const cli = (args: string[]) => Bun.spawn([BIN, ...args], { env, stdout: "pipe", stderr: "pipe" });
  // The commands start while the control plane is down, and it comes back a second later.
  await s.stopChild("control");
  const runs = Array.from({ length: 6 }, (_, i) => cli(["run", "--detach", "--name", `roll-${i}`, "--", "true"]));
  const lists = Array.from({ length: 6 }, () => cli(["jobs", "list", "--json"]));
  await Bun.sleep(1500);
  expect([...runs, ...lists].every((p) => p.exitCode === null)).toBe(true); // still waiting, not failed
  await s.restart("control");
  const codes = await Promise.all([...runs, ...lists].map(async (p) => ({ code: await p.exited, err: await new Response(p.stderr).text() })));
  expect(codes.filter((c) => c.code !== 0)).toEqual([]);
  const ids = await Promise.all(runs.map(async (p) => (await new Response(p.stdout).text()).trim()));
  expect(new Set(ids).size).toBe(6);
  const jobs = (await s.api<{ jobs: { name?: string }[] }>("/api/jobs?limit=100")).body.jobs;
  for (let i = 0; i < 6; i++) expect(jobs.filter((j) => j.name === `roll-${i}`).length).toBe(1);
}, 90_000);
