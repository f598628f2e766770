/**
 * Webhook intake benchmark: a real nats-server (one node, JetStream on disk) and the control plane
 * as its own process; this process signs `workflow_job` `queued` deliveries in advance and posts
 * them. It prints, from the same run: the raw NATS KV create and CAS (update) rates, the sustained
 * webhook rate (closed loop), and p50/p99 latency at a fixed offered load (open loop, 1,000/s).
 * Each webhook: signature check, replay fence (KV create), per-org window (KV CAS), job create
 * (KV create + event), enqueue.
 *
 *   bun run scripts/bench/webhooks.ts [--rate 1000] [--seconds 10]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { Webhooks } from "@octokit/webhooks";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { connectNats } from "../../src/nats/connect.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RATE = arg("rate", 1000);
const SECONDS = arg("seconds", 10);
const ROOT = resolve(import.meta.dir, "../..");

const freePort = () =>
  new Promise<number>((r) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });

async function waitOk(url: string, ms = 15_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await Bun.sleep(20);
  }
  throw new Error(`not ready: ${url}`);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-"));
  const [np, mp, cpPort] = [await freePort(), await freePort(), await freePort()];
  const nats = Bun.spawn(["nats-server", "-a", "127.0.0.1", "-p", String(np), "-m", String(mp), "-js", "-sd", join(dir, "nats")], { stdout: "ignore", stderr: "ignore" });
  await waitOk(`http://127.0.0.1:${mp}/healthz?js-enabled-only=true`);
  const natsUrl = `nats://127.0.0.1:${np}`;
  const secret = "bench-webhook-secret-0123456789";
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const control = Bun.spawn([process.execPath, "run", "src/control/main.ts"], {
    cwd: ROOT,
    stdout: "ignore",
    stderr: "ignore",
    env: {
      ...process.env,
      NIMBUS_NATS_URL: natsUrl,
      NIMBUS_AUTH_SECRET: "b".repeat(40),
      NIMBUS_CONTROL_PORT: String(cpPort),
      NIMBUS_LOG_LEVEL: "error",
      NIMBUS_GITHUB_WEBHOOK_SECRET: secret,
      NIMBUS_GITHUB_APP_ID: "1",
      NIMBUS_GITHUB_APP_PRIVATE_KEY: key,
      NIMBUS_GITHUB_API_URL: "http://127.0.0.1:9",
      NIMBUS_GITHUB_POLL_INTERVAL_MS: "86400000",
      NIMBUS_GITHUB_ORG_JOBS_PER_WINDOW: "10000000",
    },
  });
  const url = `http://127.0.0.1:${cpPort}`;
  try {
    await waitOk(`${url}/readyz`);
    const nc = await connectNats({ url: natsUrl, name: "bench" });
    const kv = await new Kvm(jetstream(nc)).create("bench_raw", { history: 1 });

    // Raw NATS KV rates, same server, same run, 64 operations in flight.
    const rawSeconds = 3;
    const enc = new TextEncoder().encode("x".repeat(200));
    const closedLoop = async (op: (i: number) => Promise<unknown>, seconds: number, inflight = 64) => {
      let n = 0;
      const until = Date.now() + seconds * 1000;
      await Promise.all(Array.from({ length: inflight }, async () => {
        while (Date.now() < until) await op(n++);
      }));
      return n / seconds;
    };
    const createRate = await closedLoop((i) => kv.create(`k${i}`, enc), rawSeconds);
    const revs = new Map<number, number>();
    for (let i = 0; i < 64; i++) revs.set(i, await kv.put(`cas${i}`, enc));
    let slot = 0;
    const casRate = await closedLoop(async () => {
      const s = slot++ % 64;
      revs.set(s, await kv.update(`cas${s}`, enc, revs.get(s)!));
    }, rawSeconds, 64);

    // Pre-signed deliveries (distinct job ids over 20 organisations).
    const webhooks = new Webhooks({ secret });
    const total = Math.ceil(RATE * SECONDS * 1.1) + 40_000;
    process.stderr.write(`signing ${total} deliveries...\n`);
    const reqs: { body: string; sig: string }[] = [];
    for (let i = 0; i < total; i++) {
      const body = JSON.stringify({
        action: "queued",
        workflow_job: { id: 10_000_000 + i, run_id: 1, run_attempt: 1, name: "build", workflow_name: "CI", status: "queued", conclusion: null, labels: ["self-hosted", "nimbus"], runner_id: null, runner_name: null, created_at: new Date().toISOString() },
        repository: { name: "repo", full_name: `org${i % 20}/repo`, owner: { login: `org${i % 20}`, type: "Organization" } },
        organization: { login: `org${i % 20}` },
        installation: { id: 1 + (i % 20) },
      });
      reqs.push({ body, sig: await webhooks.sign(body) });
    }
    let next = 0;
    const post = async () => {
      const r = reqs[next++]!;
      const t0 = performance.now();
      const res = await fetch(`${url}/webhooks/github`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "workflow_job", "x-github-delivery": randomUUID(), "x-hub-signature-256": r.sig },
        body: r.body,
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`unexpected ${res.status}`);
      return performance.now() - t0;
    };
    for (let i = 0; i < 500; i++) await post(); // warm up

    // Sustained rate: closed loop, 32 in flight.
    const sustained = await closedLoop(() => post(), 5, 32);

    // Fixed offered load: open loop, RATE/s in 1 ms ticks.
    const lat: number[] = [];
    const inflight: Promise<void>[] = [];
    const startT = performance.now();
    let sent = 0;
    let errors = 0;
    while (performance.now() - startT < SECONDS * 1000) {
      const due = Math.floor(((performance.now() - startT) / 1000) * RATE);
      while (sent < due) {
        sent++;
        inflight.push(post().then((ms) => void lat.push(ms), () => void errors++));
      }
      await Bun.sleep(1);
    }
    await Promise.all(inflight);
    const achieved = lat.length / SECONDS;
    const rows = [
      ["NATS KV create (raw, 64 in flight)", `${Math.round(createRate)} ops/s`, "", ""],
      ["NATS KV CAS update (raw, 64 in flight)", `${Math.round(casRate)} ops/s`, "", ""],
      ["webhooks sustained (closed loop, 32 in flight)", `${Math.round(sustained)} /s`, "", ""],
      [`webhooks at ${RATE}/s offered for ${SECONDS}s`, `${Math.round(achieved)} /s`, `${pct(lat, 50).toFixed(2)} ms`, `${pct(lat, 99).toFixed(2)} ms`],
    ];
    const w = [48, 16, 10, 10];
    const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(w[i]!)).join(" | ") + " |";
    console.log(line(["measure (one nats-server, this machine)", "rate", "p50", "p99"]));
    console.log("|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|");
    for (const r of rows) console.log(line(r));
    if (errors) console.log(`errors: ${errors}`);
    await nc.close();
  } finally {
    control.kill();
    await control.exited;
    nats.kill();
    await nats.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
