/**
 * Pull-through mirror: `bun scripts/bench/mirror.ts [--runs 3] [--mb 100]`. skopeo pulls an image of
 * one MB-sized random layer into an OCI layout: straight from Debian's docker-registry (the reference,
 * in the same run), through the Nimbus mirror cold (nothing cached: streamed while stored), warm (all
 * cached; the tag TTL is 0, so each pull revalidates it with a HEAD) and with the upstream stopped (the
 * tag stale, everything from the cache).
 * Each cold run uses a fresh registry so nothing is cached. Temp data is removed at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeLayout } from "../../test/registry/support/layout.ts";
import { startTestRegistry, type TestRegistry } from "../../test/registry/support/service.ts";
import { ok, pushToUpstream, startUpstream } from "../../test/registry/mirror-support.ts";
import { percentile, printTable } from "./lib.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg("--runs", 3);
const MB = arg("--mb", 100);

const work = mkdtempSync(join(tmpdir(), "nimbus-bench-mirror-"));
const layout = makeLayout("bench-mirror", [MB * 1024 * 1024]);
const up = await startUpstream();
await pushToUpstream(up, layout.dir, "v1", "bench/app:v1");

let n = 0;
async function pull(src: string, creds: string[]): Promise<number> {
  const out = join(work, `out-${n++}`);
  const t = performance.now();
  await ok(["skopeo", "copy", "--quiet", "--src-tls-verify=false", ...creds, src, `oci:${out}:v1`]);
  const ms = performance.now() - t;
  rmSync(out, { recursive: true, force: true });
  return ms;
}

const times: Record<string, number[]> = { direct: [], "mirror cold": [], "mirror warm": [], "mirror, upstream down": [] };
const registries: TestRegistry[] = [];
for (let i = 0; i < RUNS; i++) {
  times.direct!.push(await pull(`docker://${up.hostPort}/bench/app:v1`, []));
  const reg = await startTestRegistry({ mirror: { upstreams: `local=${up.url}`, mirrorTagTtlSeconds: 0 } });
  registries.push(reg);
  const creds = ["--src-creds", `ci:${await reg.token("member", "acme")}`];
  const src = `docker://${reg.hostPort}/mirror/local/bench/app:v1`;
  times["mirror cold"]!.push(await pull(src, creds));
  times["mirror warm"]!.push(await pull(src, creds));
}
await up.stop();
for (const reg of registries) {
  const creds = ["--src-creds", `ci:${await reg.token("member", "acme")}`];
  times["mirror, upstream down"]!.push(await pull(`docker://${reg.hostPort}/mirror/local/bench/app:v1`, creds));
  await reg.cleanup();
}
await up.cleanup();
rmSync(layout.dir, { recursive: true, force: true });
rmSync(work, { recursive: true, force: true });

printTable(`skopeo pull of a ${MB} MiB layer, ${RUNS} runs (ms)`, Object.entries(times).map(([path, t]) => ({
  path, p50: percentile(t, 50), max: Math.max(...t), "MiB/s (p50)": (MB * 1000) / percentile(t, 50),
})));
