import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteLogStore } from "../../src/logs/backends/sqlite.ts";
import { backendConformance } from "./backend-suite.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-logs-sqlite-"));
backendConformance("sqlite", async () => openSqliteLogStore(join(dir, "logs.sqlite")), async () => rmSync(dir, { recursive: true, force: true }));

import { describe, expect, test } from "bun:test";
import { NO_META } from "../../src/logs/store.ts";

describe("sqlite retention", () => {
  test("lines older than the retention go on each prune; ends and job fields when stored that long ago and no line of the job is left", async () => {
    const d = mkdtempSync(join(tmpdir(), "nimbus-logs-retention-"));
    try {
      let now = Date.UTC(2026, 0, 31);
      const day = 86_400_000;
      const s = openSqliteLogStore(join(d, "l.sqlite"), { retentionDays: 7, now: () => now });
      const ctx = { org: "acme", agent: "a", meta: NO_META };
      await s.ingest({ jobId: "j-old", attempt: 1, lines: [{ n: 0, ts: now - 10 * day, stream: "out", text: "old" }], end: { lines: 1, exitCode: 0 } }, ctx);
      await s.ingest({ jobId: "j-new", attempt: 1, lines: [{ n: 0, ts: now - day, stream: "out", text: "new" }, { n: 1, ts: now - 9 * day, stream: "out", text: "late" }] }, ctx);
      expect(s.prune()).toBe(2);
      expect(await s.count("j-old")).toBe(0);
      expect(await s.ended("j-old")).toBe(true); // its end was stored now: it stays until that is past the retention
      expect((await s.read("j-new", 0, 10)).map((l) => l.text)).toEqual(["new"]);
      now += 8 * day;
      expect(s.prune()).toBe(1);
      expect(await s.count("j-new")).toBe(0);
      expect(await s.orgOf("j-old")).toBeNull();
      expect(await s.orgOf("j-new")).toBeNull();
      await s.close();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
