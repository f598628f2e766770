import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openClickHouseLogStore } from "../../src/logs/backends/clickhouse.ts";
import { chdbClient } from "../support/chdb.ts";
import { backendConformance } from "./backend-suite.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-logs-chdb-"));
backendConformance("clickhouse (chdb engine)", async () => openClickHouseLogStore(chdbClient(dir), { database: "nimbus_test", retentionDays: 3650 }), async () => rmSync(dir, { recursive: true, force: true }));
