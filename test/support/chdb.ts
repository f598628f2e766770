/**
 * ClickHouse for tests: chdb's in-process engine (a real ClickHouse, 26.x) behind `@clickhouse/client`
 * through chdb's connection adapter (experimental), so the client code path is the production one.
 * chdb is large (~550 MB): the test setup installs it into .test-deps/, never `npm start`.
 */
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const CHDB = resolve(import.meta.dir, "../../.test-deps/node_modules/chdb/dist/connection/index.js");

export function chdbAvailable(): boolean {
  return existsSync(CHDB);
}

/** A client on a chdb session stored in `dir` (one session per directory per process). */
export function chdbClient(dir: string): ClickHouseClient {
  if (!chdbAvailable()) throw new Error("chdb is not installed: run `bash scripts/setup.sh --tests`");
  const { createChdbConnection } = require(CHDB) as { createChdbConnection(o: { path: string }): unknown };
  return createClient({ connection: createChdbConnection({ path: dir }) } as Parameters<typeof createClient>[0]);
}
