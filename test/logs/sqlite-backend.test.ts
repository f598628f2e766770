import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteLogStore } from "../../src/logs/backends/sqlite.ts";
import { backendConformance } from "./backend-suite.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-logs-sqlite-"));
backendConformance("sqlite", async () => openSqliteLogStore(join(dir, "logs.sqlite")), async () => rmSync(dir, { recursive: true, force: true }));
