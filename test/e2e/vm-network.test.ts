/**
 * `nimbus up --vm` with guest networking, the whole stack inside a network namespace this test
 * makes (nothing leaves it): a VM job gets the Actions cache environment, reaches the cache on its
 * gateway with a token the cache accepts, and is refused the host's NATS port and the metadata address.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";
import { waitFor } from "../support/net.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const NS = `nimbus-e2e-${process.pid}`;
const BASE = 7700;
const inNs = (argv: string[]) => ["ip", "netns", "exec", NS, ...argv];
let dir: string;
let up: ReturnType<typeof Bun.spawn>;

beforeAll(async () => {
  await ensureVmAssets();
  expect(Bun.spawnSync(["ip", "netns", "add", NS]).exitCode).toBe(0);
  Bun.spawnSync(inNs(["ip", "link", "set", "lo", "up"]));
  dir = mkdtempSync(join(tmpdir(), "nimbus-vmnet-"));
  let out = "";
  up = Bun.spawn(inNs([BIN, "up", "--vm", "--vm-network", "nat", "--data-dir", dir, "--port-base", String(BASE)]), {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NIMBUS_VM_ACCEL: "tcg" },
  });
  (async () => {
    for await (const c of up.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(c);
  })();
  await waitFor(() => out.includes("Nimbus is up") || up.exitCode !== null, 120_000, "nimbus up --vm in the namespace");
  expect(up.exitCode).toBeNull();
}, 300_000);

afterAll(async () => {
  up?.kill("SIGINT");
  await up?.exited;
  Bun.spawnSync(["ip", "netns", "del", NS]);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const GUEST_SCRIPT = `
u=\${ACTIONS_RESULTS_URL#http://}; hp=\${u%/}; h=\${hp%:*}; p=\${hp#*:}
echo "cache at $h:$p v2=$ACTIONS_CACHE_SERVICE_V2"
# The first packets may race the tap joining the bridge: wait for the cache like a job would.
for i in 1 2 3 4 5 6 7 8 9 10; do
  r=$( (printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n'; sleep 1) | timeout 5 nc $h $p | head -n 1)
  [ -n "$r" ] && break
  echo "try $i: no answer" >&2; sleep 1
done
echo "$r"
body='{"key":"nope","restoreKeys":[],"version":"v1"}'
# busybox nc may quit at the end of its input, before the answer: keep the input open a while.
(printf 'POST /twirp/github.actions.results.api.v1.CacheService/GetCacheEntryDownloadURL HTTP/1.0\\r\\nAuthorization: Bearer %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n%s' "$ACTIONS_RUNTIME_TOKEN" \${#body} "$body"; sleep 3) | timeout 8 nc $h $p | head -n 1
echo | timeout 3 nc $h ${BASE + 2} >/dev/null 2>&1 && echo "nats open" || echo "nats refused"
echo | timeout 3 nc $h ${BASE} >/dev/null 2>&1 && echo "control open" || echo "control refused"
echo | timeout 3 nc 169.254.169.254 80 >/dev/null 2>&1 && echo "metadata open" || echo "metadata refused"
`;

test("a VM job reaches the cache with its token and nothing else of the host", () => {
  const r = Bun.spawnSync(inNs([BIN, "run", "--data-dir", dir, "--isolation", "vm", "--timeout", "120", "--", "sh", "-c", GUEST_SCRIPT]), { stdout: "pipe", stderr: "pipe", timeout: 180_000 });
  const lines = r.stdout.toString().trim().split("\n").map((l) => l.trim());
  if (lines.length !== 6) console.error("guest stdout:", r.stdout.toString(), "stderr:", r.stderr.toString());
  expect(lines[0]).toBe(`cache at 10.88.0.1:${BASE + 4} v2=true`);
  expect(lines[1]).toMatch(/^HTTP\/1\.[01] 200/); // healthz
  expect(lines[2]).toMatch(/^HTTP\/1\.[01] 200/); // the job's token is accepted (a miss, not a 401)
  expect(lines.slice(3)).toEqual(["nats refused", "control refused", "metadata refused"]);
  expect(r.exitCode).toBe(0);
  expect(r.stderr.toString()).not.toContain("eyJ"); // the token is never printed
}, 200_000);
