/**
 * Cache outage latency: `bun scripts/bench/cache-outage.ts [--runs 3]`. How long the unmodified
 * @actions/cache takes to save and to restore through the cache service on s3rver, first with S3
 * up (the reference, in the same run), then with S3 stopped, where a save is skipped and a restore
 * is a miss. The test (test/cache/outage.test.ts) proves what happens during an outage; this says
 * how fast, which a loaded test machine cannot bound. Temp data is removed at the end.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { actionsEnv, runClient } from "../../test/cache/support/client.ts";
import { removeDir, tempDir, writeTree } from "../../test/cache/support/files.ts";
import { startS3 } from "../../test/cache/support/s3.ts";
import { startTestCache } from "../../test/cache/support/service.ts";
import { percentile, printTable } from "./lib.ts";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;

const s3 = await startS3();
const cache = await startTestCache({ s3, env: { NIMBUS_CACHE_BREAKER_COOLDOWN_MS: "300", NIMBUS_CACHE_BREAKER_FAILURES: "2" } });
const ws = tempDir("nimbus-bench-ws-");
const temp = tempDir("nimbus-bench-temp-");
writeTree(ws, "deps", "outage-bench");

async function timed(protocol: "v1" | "v2", op: "save" | "restore", key: string): Promise<number> {
  const env = actionsEnv({ protocol, url: cache.url, token: await cache.token("acme/bench", { ref: "refs/heads/main" }), workspace: ws, temp });
  if (op === "restore") rmSync(join(ws, "deps"), { recursive: true, force: true });
  const r = await runClient(env, { op, paths: ["deps"], key });
  if (op === "restore") writeTree(ws, "deps", "outage-bench");
  return r.ms;
}

type Times = Record<string, number[]>;
async function measure(label: string, into: Times, keyOf: (protocol: string, i: number) => string): Promise<void> {
  for (let i = 0; i < RUNS; i++)
    for (const protocol of ["v1", "v2"] as const) {
      (into[`${label} ${protocol} save`] ??= []).push(await timed(protocol, "save", `${keyOf(protocol, i)}-save`));
      (into[`${label} ${protocol} restore`] ??= []).push(await timed(protocol, "restore", "reference"));
    }
}

try {
  await timed("v2", "save", "reference");
  const times: Times = {};
  await measure("S3 up:", times, (p, i) => `up-${p}-${i}`);
  await s3.stop();
  await Bun.sleep(1100); // past the service's one-second storage freshness window: the outage is seen
  await measure("S3 down:", times, (p, i) => `down-${p}-${i}`);
  await s3.start();
  printTable(`@actions/cache against the cache service on s3rver, ${RUNS} runs each (ms)`, Object.entries(times).map(([what, t]) => ({ what, p50: Math.round(percentile(t, 50)), max: Math.round(Math.max(...t)) })));
} finally {
  await cache.cleanup();
  await s3.cleanup();
  removeDir(ws);
  removeDir(temp);
}
