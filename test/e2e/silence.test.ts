/**
 * A job silent for longer than every idle timeout on the path: `nimbus run` keeps the stream up on
 * heartbeats alone and ends with the job. Slow by nature (90 s of silence); one case.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { resolve } from "node:path";
import { testStack, type TestStack } from "../support/stack.ts";
import { tcpProxy, type TcpProxy } from "../support/proxy.ts";
import { HEARTBEAT_MS } from "../../src/http/sse.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const SILENCE_S = 90;
/** Like a proxy in front of the log service: a connection with no byte either way for 20 s is closed. */
const PROXY_IDLE_MS = 20_000;

let s: TestStack;
let proxy: TcpProxy;
beforeAll(async () => {
  s = await testStack();
  await s.waitAgents(1);
  proxy = await tcpProxy(Number(new URL(s.logsUrl).port), { idleMs: PROXY_IDLE_MS });
}, 30_000);
afterAll(async () => {
  await proxy?.stop();
  await s?.destroy();
}, 30_000);

test(`a job silent for ${SILENCE_S} s, then one line and exit 3: nimbus run shows the line and exits 3, on one connection`, async () => {
  // The silence is longer than the proxy's idle timeout and Bun's own (10 s by default, which the log
  // service keeps): only the heartbeat can carry the one connection across it.
  expect(PROXY_IDLE_MS).toBeLessThan(SILENCE_S * 1000);
  expect(HEARTBEAT_MS).toBeLessThan(PROXY_IDLE_MS);
  const p = Bun.spawn([BIN, "run", "--", "sh", "-c", `sleep ${SILENCE_S}; echo after the silence; exit 3`], {
    env: { ...process.env, NIMBUS_URL: s.controlUrl, NIMBUS_TOKEN: s.adminToken, NIMBUS_LOGS_URL: proxy.url },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  expect({ code, out }).toEqual({ code: 3, out: "after the silence\n" });
  expect(err).toMatch(/job j-\S+ failed \(exit 3\)/);
  expect(err).not.toContain("interrupted"); // never resumed: the first connection lasted
  const follows = proxy.requestsTo("/logs/follow");
  expect(follows).toHaveLength(1);
  expect(follows[0]!.idledOut).toBe(false);
}, (SILENCE_S + 60) * 1000);
