/**
 * The unmodified @actions/cache against the real cache service, in both protocol modes: save, exact
 * restore, prefix restore through restore keys, GitHub's cross-branch rules, a pull request run,
 * a second writer, and repository isolation; restored trees are compared byte for byte.
 * Run once per storage backend (fs.client.test.ts, s3.client.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { actionsEnv, runClient, type Protocol } from "./support/client.ts";
import { removeDir, tempDir, treeDigest, writeTree } from "./support/files.ts";
import type { TestCache } from "./support/service.ts";

const REPO = "acme/app";
const MAIN = { ref: "refs/heads/main" };
const FEATURE = { ref: "refs/heads/feature", defaultRef: "refs/heads/main" };
const OTHER = { ref: "refs/heads/other", defaultRef: "refs/heads/main" };
const PR = { ref: "refs/pull/7/merge", baseRef: "refs/heads/feature", defaultRef: "refs/heads/main" };

export function clientSuite(storage: string, start: () => Promise<TestCache>, protocols: Protocol[] = ["v1", "v2"]) {
  for (const protocol of protocols) {
    describe(`@actions/cache ${protocol} on ${storage}`, () => {
      let cache: TestCache;
      let ws: string;
      let temp: string;
      const digests: Record<string, Record<string, string>> = {};

      const env = async (run: typeof MAIN, repo = REPO) =>
        actionsEnv({ protocol, url: cache.url, token: await cache.token(repo, run), workspace: ws, temp, extra: { CACHE_UPLOAD_CHUNK_SIZE: "1" } });
      const save = async (run: typeof MAIN, key: string, seed: string, bytes = 64 * 1024) => {
        rmSync(join(ws, "deps"), { recursive: true, force: true });
        writeTree(ws, "deps", seed, bytes);
        digests[seed] = treeDigest(join(ws, "deps"));
        return (await runClient(await env(run), { op: "save", paths: ["deps"], key })).result;
      };
      const restore = async (run: typeof MAIN, key: string, restoreKeys: string[] = [], repo = REPO) => {
        rmSync(join(ws, "deps"), { recursive: true, force: true });
        const r = await runClient(await env(run, repo), { op: "restore", paths: ["deps"], key, restoreKeys });
        return { key: r.result, tree: r.result ? treeDigest(join(ws, "deps")) : undefined, log: r.log };
      };

      beforeAll(async () => {
        cache = await start();
        ws = tempDir("nimbus-ws-");
        temp = tempDir("nimbus-runner-temp-");
      });
      afterAll(async () => {
        await cache.cleanup();
        removeDir(ws);
        removeDir(temp);
      });

      test("save on main (several chunks in v1), then exact restore, byte for byte", async () => {
        const id = await save(MAIN, "deps-linux-aaa", "main", 3 * 1024 * 1024 + 12345);
        expect(typeof id).toBe("number");
        const r = await restore(MAIN, "deps-linux-aaa");
        expect(r.key).toBe("deps-linux-aaa");
        expect(r.tree).toEqual(digests.main!);
      });

      test("prefix restore through restore keys, from a branch falling back to the default branch", async () => {
        const r = await restore(FEATURE, "deps-linux-zzz", ["nothing-", "deps-linux-"]);
        expect(r.key).toBe("deps-linux-aaa");
        expect(r.tree).toEqual(digests.main!);
      });

      test("a branch's entries are visible to itself but not to main or a sibling branch", async () => {
        expect(typeof (await save(FEATURE, "feat-bbb", "feature"))).toBe("number");
        expect((await restore(FEATURE, "feat-bbb")).tree).toEqual(digests.feature!);
        expect((await restore(MAIN, "feat-bbb")).key).toBeNull();
        expect((await restore(OTHER, "feat-bbb", ["feat-"])).key).toBeNull();
      });

      test("a pull request reads its base branch and writes to refs/pull/N/merge only", async () => {
        expect((await restore(PR, "feat-bbb")).tree).toEqual(digests.feature!);
        expect(typeof (await save(PR, "pr-ccc", "pr"))).toBe("number");
        expect((await restore(PR, "pr-ccc")).tree).toEqual(digests.pr!);
        expect((await restore(FEATURE, "pr-ccc")).key).toBeNull();
        expect((await restore(MAIN, "pr-ccc")).key).toBeNull();
      });

      test("a second writer for the same key and version gets 'already exists' and the first entry stays", async () => {
        expect(await save(MAIN, "deps-linux-aaa", "intruder")).toBe(-1);
        expect((await restore(MAIN, "deps-linux-aaa")).tree).toEqual(digests.main!);
      });

      test("another repository never sees these entries", async () => {
        expect((await restore(MAIN, "deps-linux-aaa", ["deps-"], "other/repo")).key).toBeNull();
      });
    });
  }
}
