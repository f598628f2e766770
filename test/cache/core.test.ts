/** The pure core: lookup order, scopes, the breaker state machine, quotas and eviction. */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { lookup } from "../../src/cache/downloads.ts";
import { sweep } from "../../src/cache/eviction.ts";
import { READ, WRITE, type Caller } from "../../src/cache/model.ts";
import { CircuitBreaker, type BreakerState } from "../../src/blobs/backend/breaker.ts";
import { scopesForRun } from "../../src/protocol/cache-token.ts";
import { commitById, reserve, writeChunk } from "../../src/cache/uploads.ts";
import { removeDir } from "./support/files.ts";
import { bytesOf, stopCoreNats, testCore } from "./support/core.ts";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));
afterAll(() => stopCoreNats());

async function core(limits = {}) {
  const t = await testCore(limits);
  cleanups.push(() => (t.close(), removeDir(t.dir)));
  return t;
}

/** A caller of the org named like the repository's owner (or `org` given as "org:repo"). */
const caller = (repo: string, ...scopes: [string, number][]): Caller => {
  const [org, name] = repo.includes(":") ? repo.split(":") as [string, string] : [repo.split("/")[0]!, repo];
  return { org, repo: name, scopes: scopes.map(([scope, permission]) => ({ scope, permission })) };
};

async function put(t: Awaited<ReturnType<typeof testCore>>, who: Caller, key: string, body = "data", version = "v") {
  const e = await reserve(t.d, who, { key, version, size: body.length, protocol: "v1" });
  await writeChunk(t.d, who, e.id, { start: 0, end: body.length - 1 }, bytesOf(body));
  const done = await commitById(t.d, who, e.id, body.length);
  t.clock.now += 1000;
  return done;
}

describe("scopes", () => {
  test("a push writes its own ref and reads the default branch; a PR writes refs/pull/N/merge and reads base then default", () => {
    expect(scopesForRun({ ref: "refs/heads/feat", defaultRef: "refs/heads/main" })).toEqual([
      { scope: "refs/heads/feat", permission: READ | WRITE },
      { scope: "refs/heads/main", permission: READ },
    ]);
    expect(scopesForRun({ ref: "refs/pull/9/merge", baseRef: "refs/heads/dev", defaultRef: "refs/heads/main" }).map((s) => s.scope)).toEqual([
      "refs/pull/9/merge", "refs/heads/dev", "refs/heads/main",
    ]);
    expect(scopesForRun({ ref: "refs/heads/main" })).toEqual([{ scope: "refs/heads/main", permission: READ | WRITE }]);
    expect(() => scopesForRun({ ref: "main" })).toThrow("full git ref");
    expect(() => scopesForRun({ ref: "refs/heads/../x" })).toThrow("full git ref");
  });
});

describe("lookup order", () => {
  test("own scope before default branch; exact before prefix; prefix picks the newest; restore keys in order", async () => {
    const t = await core();
    const main = caller("a/b", ["refs/heads/main", 3]);
    const feat = caller("a/b", ["refs/heads/feat", 3], ["refs/heads/main", 1]);
    await put(t, main, "npm-1");
    await put(t, main, "npm-2");
    await put(t, main, "npm");
    await put(t, feat, "npm-old");
    await put(t, main, "yarn-1");
    const hit = async (who: Caller, keys: string[]) => (await lookup(t.d, who, keys, "v", "v1"))?.entry.key;
    expect(await hit(main, ["npm"])).toBe("npm"); // exact beats a newer prefix match
    expect(await hit(main, ["npm-"])).toBe("npm-2"); // newest prefix match
    expect(await hit(feat, ["npm-"])).toBe("npm-old"); // own scope first, even if older
    expect(await hit(feat, ["zzz", "yarn-"])).toBe("yarn-1"); // restore key, found on the default branch
    expect(await hit(feat, ["npm-1"])).toBe("npm-1"); // exact on default branch
    expect(await hit(caller("a/c", ["refs/heads/main", 3]), ["npm"])).toBeUndefined(); // other repo
    expect(await lookup(t.d, main, ["npm"], "other-version", "v1")).toBeUndefined();
  });

  test("a restore touches the entry (LRU)", async () => {
    const t = await core();
    const main = caller("a/b", ["refs/heads/main", 3]);
    const e = await put(t, main, "k");
    t.clock.now += 5000;
    await lookup(t.d, main, ["k"], "v", "v1");
    expect(t.d.index.get(e.id)!.lastUsedAt).toBe(t.clock.now);
  });
});

describe("quotas and eviction", () => {
  test("past the repository quota the least recently used entries of that repository go", async () => {
    const t = await core({ repoQuotaBytes: 10 });
    const main = caller("a/b", ["refs/heads/main", 3]);
    await put(t, main, "one", "aaaa");
    await put(t, main, "two", "bbbb");
    await lookup(t.d, main, ["one"], "v", "v1"); // "one" is now more recently used than "two"
    t.clock.now += 1000;
    await put(t, caller("x/y", ["refs/heads/main", 3]), "other", "cccccccc"); // another repo: untouched
    await put(t, main, "three", "cccc");
    expect(t.d.index.list({ repo: "a/b" }).map((e) => e.key).sort()).toEqual(["one", "three"]);
    expect(t.d.index.list({ repo: "x/y" }).length).toBe(1);
  });

  test("organisation quota and total cap evict across repositories, LRU first", async () => {
    const t = await core({ orgQuotaBytes: 8, maxTotalBytes: 12 });
    await put(t, caller("org/a", ["refs/heads/main", 3]), "a1", "aaaa");
    await put(t, caller("org/b", ["refs/heads/main", 3]), "b1", "bbbb");
    await put(t, caller("org/c", ["refs/heads/main", 3]), "c1", "cccc"); // org over 8: a1 goes
    expect(t.d.index.list({ org: "org" }).map((e) => e.key).sort()).toEqual(["b1", "c1"]);
    await put(t, caller("zz/z", ["refs/heads/main", 3]), "z1", "zzzzzz"); // total 14 > 12: b1 goes
    expect(t.d.index.list({}).map((e) => e.key).sort()).toEqual(["c1", "z1"]);
  });

  test("an entry larger than the quota is refused at reserve", async () => {
    const t = await core({ repoQuotaBytes: 10 });
    await expect(reserve(t.d, caller("a/b", ["refs/heads/main", 3]), { key: "big", version: "v", size: 11, protocol: "v1" })).rejects.toThrow("over the data cap");
  });

  test("the sweeper removes entries unused for N days and uploads abandoned half way, with their data", async () => {
    const t = await core({ unusedDays: 7, uploadTimeoutMinutes: 30 });
    const main = caller("a/b", ["refs/heads/main", 3]);
    await put(t, main, "old");
    const half = await reserve(t.d, main, { key: "half", version: "v", size: 8, protocol: "v1" });
    await writeChunk(t.d, main, half.id, { start: 0, end: 3 }, bytesOf("half"));
    t.clock.now += 6 * 86_400_000;
    await put(t, main, "fresh");
    expect(await sweep(t.d)).toEqual({ unused: 0, abandoned: 1, failed: 0 });
    t.clock.now += 2 * 86_400_000;
    expect(await sweep(t.d)).toEqual({ unused: 1, abandoned: 0, failed: 0 });
    expect(t.d.index.list({}).map((e) => e.key)).toEqual(["fresh"]);
    const names: string[] = [];
    for await (const o of t.d.store.list("e/")) names.push(o.name);
    expect(names.length).toBe(1);
  });
});

describe("organisations", () => {
  test("the same repository name in two orgs shares nothing: lookups, saves, uploads", async () => {
    const t = await core({});
    const acme = caller("acme:shared/app", ["refs/heads/main", 3]);
    const globex = caller("globex:shared/app", ["refs/heads/main", 3]);
    await put(t, acme, "deps", "acme-bytes");
    expect(await lookup(t.d, globex, ["deps"], "v", "v1")).toBeUndefined(); // exact key
    expect(await lookup(t.d, globex, ["de"], "v", "v1")).toBeUndefined(); // prefix
    expect((await lookup(t.d, acme, ["deps"], "v", "v1"))?.entry.org).toBe("acme");
    // globex saves the same (repo, scope, key, version): its own entry, not a conflict with acme's.
    await put(t, globex, "deps", "globex-bytes");
    expect((await lookup(t.d, globex, ["deps"], "v", "v1"))?.entry.size).toBe("globex-bytes".length);
    expect((await lookup(t.d, acme, ["deps"], "v", "v1"))?.entry.size).toBe("acme-bytes".length);
    // An upload of one org cannot be written to or committed by the other: as if it did not exist.
    const half = await reserve(t.d, acme, { key: "half", version: "v", size: 4, protocol: "v1" });
    await expect(writeChunk(t.d, globex, half.id, { start: 0, end: 3 }, bytesOf("evil"))).rejects.toMatchObject({ code: "not_found" });
    await expect(commitById(t.d, globex, half.id, 4)).rejects.toMatchObject({ code: "not_found" });
    expect(t.d.index.parts(half.id)).toEqual([]);
  });

  test("quotas are per org: one org's saves never evict another's entries, even of a repository of the same name", async () => {
    const t = await core({ repoQuotaBytes: 8, orgQuotaBytes: 12 });
    const acme = caller("acme:shared/app", ["refs/heads/main", 3]);
    const acmeLib = caller("acme:acme/lib", ["refs/heads/main", 3]);
    const globex = caller("globex:shared/app", ["refs/heads/main", 3]);
    await put(t, globex, "g1", "gggggggg"); // globex's shared/app at its repo quota
    await put(t, acme, "a1", "aaaa");
    await put(t, acme, "a2", "aaaa"); // acme's shared/app at 8: nothing goes, globex's 8 bytes are not counted
    expect(t.d.index.list({ org: "acme" }).map((e) => e.key).sort()).toEqual(["a1", "a2"]);
    await put(t, acmeLib, "l1", "llllllll"); // acme over 12: its least recently used goes, globex untouched
    expect(t.d.index.list({ org: "acme" }).map((e) => e.key).sort()).toEqual(["a2", "l1"]);
    expect(t.d.index.list({ org: "globex" }).map((e) => e.key)).toEqual(["g1"]);
  });
});

describe("circuit breaker", () => {
  test("opens after N failures, refuses while open, lets one trial through after the cooldown", () => {
    const clock = { now: 0 };
    const seen: BreakerState[] = [];
    const b = new CircuitBreaker({ failures: 2, cooldownMs: 100, now: () => clock.now, onChange: (s) => seen.push(s) });
    b.failure();
    expect(b.state).toBe("closed");
    b.failure();
    expect(b.state).toBe("open");
    expect(b.allow()).toBe(false);
    clock.now = 100;
    expect(b.allow()).toBe(true);
    expect(b.state).toBe("half_open");
    expect(b.allow()).toBe(false); // one trial at a time
    b.failure();
    expect(b.state).toBe("open");
    clock.now = 250;
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.state).toBe("closed");
    expect(seen).toEqual(["open", "half_open", "open", "half_open", "closed"]);
  });
});
