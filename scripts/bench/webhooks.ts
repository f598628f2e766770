/**
 * Webhook intake benchmark: a real nats-server (one node, JetStream on disk) and the control plane
 * as its own process, driven by a load generator in a third process (this script with
 * `--loadgen`), so the generator's work is visible and separate. The generator signs
 * `workflow_job` `queued` deliveries in advance (distinct job and delivery ids, 20
 * organisations) and sends them as raw HTTP/1.1 over keep-alive connections — far less CPU per
 * request than `fetch`, which matters when all three processes share two cores.
 *
 * Printed, from one run: the raw NATS KV create and CAS rates (the reference, measured from this
 * process); the sustained webhook rate (closed loop, 32 connections); p50/p99/max latency at a
 * fixed offered load (open loop, measured from each request's scheduled send time, so a stall
 * shows up in full); and the CPU each process used per webhook in each phase.
 * Each webhook: signature check, replay fence (KV create), per-org window (KV CAS per block),
 * job create (KV create + event), enqueue. Gitea deliveries (one forge connection) get a sustained row of
 * their own in the same run, after GitHub's.
 *
 *   bun run scripts/bench/webhooks.ts [--rate 1000] [--seconds 10] [--sustain 5]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
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
const SUSTAIN = arg("sustain", 5);
const ROOT = resolve(import.meta.dir, "../..");

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

// ---------------------------------------------------------------- load generator (child process)

/** One keep-alive HTTP/1.1 connection, one request at a time; reopened when the server closed it while idle. */
class Conn {
  private buf = Buffer.alloc(0);
  private done: ((status: number) => void) | null = null;
  private pending: Uint8Array | null = null;
  private socket: import("bun").Socket<undefined> | null = null;
  private constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  static async open(host: string, port: number): Promise<Conn> {
    const c = new Conn(host, port);
    await c.connect();
    return c;
  }

  private async connect(): Promise<void> {
    this.buf = Buffer.alloc(0);
    const lost = (s: unknown) => {
      if (s !== this.socket) return;
      this.socket = null;
      this.done?.(0);
      this.done = null;
    };
    this.socket = await Bun.connect({
      hostname: this.host,
      port: this.port,
      socket: { data: (_s, data) => this.onData(data), drain: () => this.flush(), close: lost, error: lost },
    });
    this.socket.setNoDelay(true);
  }

  async send(req: Uint8Array): Promise<number> {
    if (!this.socket) await this.connect();
    return new Promise((r) => {
      this.done = r;
      this.pending = req;
      this.flush();
    });
  }

  private flush(): void {
    if (!this.pending || !this.socket) return;
    const n = this.socket.write(this.pending);
    this.pending = n >= this.pending.length ? null : this.pending.subarray(Math.max(0, n));
  }

  private onData(data: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : Buffer.from(data);
    const head = this.buf.indexOf("\r\n\r\n");
    if (head < 0) return;
    const headers = this.buf.subarray(0, head).toString("latin1");
    const status = Number(headers.slice(9, 12));
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
    let end: number;
    if (m) end = head + 4 + Number(m[1]);
    else {
      const z = this.buf.indexOf("\r\n0\r\n\r\n", head); // chunked
      if (z < 0) return;
      end = z + 7;
    }
    if (this.buf.length < end) return;
    this.buf = this.buf.subarray(end);
    const d = this.done;
    this.done = null;
    d?.(status);
  }

  close(): void {
    this.socket?.end();
  }
}

async function loadgen(): Promise<void> {
  const target = new URL(process.env.BENCH_URL!);
  const host = target.hostname;
  const port = Number(target.port);
  const mark = (phase: string, at: "start" | "end", extra: Record<string, unknown> = {}) => console.log(JSON.stringify({ phase, at, ...extra }));
  const webhooks = new Webhooks({ secret: process.env.BENCH_SECRET! });
  const total = 500 + Math.ceil(RATE * SECONDS * 1.05) + 15_000 * SUSTAIN;
  const reqs: Uint8Array[] = [];
  for (let i = 0; i < total; i++) {
    const body = JSON.stringify({
      action: "queued",
      workflow_job: { id: 10_000_000 + i, run_id: 1, run_attempt: 1, name: "build", workflow_name: "CI", status: "queued", conclusion: null, labels: ["self-hosted", "nimbus"], runner_id: null, runner_name: null, created_at: new Date().toISOString() },
      repository: { name: "repo", full_name: `org${i % 20}/repo`, owner: { login: `org${i % 20}`, type: "Organization" } },
      organization: { login: `org${i % 20}` },
      installation: { id: 1 + (i % 20) },
    });
    const head =
      `POST /webhooks/github HTTP/1.1\r\nHost: ${target.host}\r\ncontent-type: application/json\r\nuser-agent: GitHub-Hookshot/bench\r\n` +
      `x-github-event: workflow_job\r\nx-github-delivery: ${randomUUID()}\r\nx-hub-signature-256: ${await webhooks.sign(body)}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    reqs.push(Buffer.from(head + body));
  }
  // Gitea deliveries (issue #16), the same job shape, for the forge connection `bench`: hex HMAC-SHA256 in X-Gitea-Signature.
  const giteaReqs: Uint8Array[] = [];
  for (let i = 0; i < 15_000 * SUSTAIN; i++) {
    const body = JSON.stringify({
      action: "queued",
      workflow_job: { id: 20_000_000 + i, run_id: 1, name: "build", status: "waiting", labels: ["nimbus"], runner_id: 0, runner_name: "" },
      repository: { id: 1, name: "repo", full_name: "acme/repo", owner: { login: "acme" } },
    });
    const head =
      `POST /webhooks/forge/bench HTTP/1.1\r\nHost: ${target.host}\r\ncontent-type: application/json\r\nx-gitea-event: workflow_job\r\n` +
      `x-gitea-delivery: ${randomUUID()}\r\nx-gitea-signature: ${createHmac("sha256", process.env.BENCH_FORGE_SECRET!).update(body).digest("hex")}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    giteaReqs.push(Buffer.from(head + body));
  }
  let next = 0;
  let errors = 0;
  const conns = await Promise.all(Array.from({ length: 64 }, () => Conn.open(host, port)));
  let nextGitea = 0;
  const postGitea = async (c: Conn) => {
    const req = giteaReqs[nextGitea++];
    if (!req) throw new Error("ran out of signed Gitea deliveries");
    if ((await c.send(req)) !== 201) errors++;
  };
  const post = async (c: Conn) => {
    const req = reqs[next++];
    if (!req) throw new Error("ran out of signed deliveries (raise the 15,000/s of the sustained phase)");
    const status = await c.send(req);
    if (status !== 201) errors++;
  };
  mark("ready", "start");
  await new Promise<void>((r) => process.stdin.once("data", () => r())); // the parent has taken its CPU snapshot

  for (let i = 0; i < 500; i++) await post(conns[0]!); // warm up

  // Sustained rate: closed loop, 32 connections.
  mark("sustained", "start");
  let n = 0;
  const until = performance.now() + SUSTAIN * 1000;
  const t0 = performance.now();
  await Promise.all(conns.slice(0, 32).map(async (c) => {
    while (performance.now() < until) {
      await post(c);
      n++;
    }
  }));
  mark("sustained", "end", { count: n, seconds: (performance.now() - t0) / 1000 });
  await Bun.sleep(500);

  // Fixed offered load: open loop, RATE/s; latency from each request's scheduled time.
  mark("open", "start");
  const free = [...conns];
  const waiting: number[] = [];
  const lat: number[] = [];
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  const run = (c: Conn, scheduled: number): Promise<void> =>
    post(c).then(() => {
      lat.push(performance.now() - scheduled);
      const w = waiting.shift();
      if (w !== undefined) return run(c, w);
      free.push(c);
    });
  let sent = 0;
  while (performance.now() - start < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (sent < due) {
      const scheduled = start + (sent * 1000) / RATE;
      sent++;
      const c = free.shift(); // round robin: no connection idles long enough to be closed
      if (c) inflight.push(run(c, scheduled));
      else waiting.push(scheduled);
    }
    await Bun.sleep(1);
  }
  while (waiting.length || free.length < conns.length) await Bun.sleep(5);
  await Promise.all(inflight);
  mark("open", "end", { count: lat.length, seconds: (performance.now() - start) / 1000, p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat), errors });
  await Bun.sleep(500);

  // Gitea deliveries, sustained: closed loop, 32 connections, beside GitHub's rows of the same run.
  const giteaErrorsBefore = errors;
  mark("gitea", "start");
  let g = 0;
  const gUntil = performance.now() + SUSTAIN * 1000;
  const g0 = performance.now();
  await Promise.all(conns.slice(0, 32).map(async (c) => {
    while (performance.now() < gUntil) {
      await postGitea(c);
      g++;
    }
  }));
  mark("gitea", "end", { count: g, seconds: (performance.now() - g0) / 1000, errors: errors - giteaErrorsBefore });
  conns.forEach((c) => c.close());
  process.exit(0); // stdin stays open
}

// ---------------------------------------------------------------- the run (parent process)

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

/** CPU time (user + system) of a process so far, in ms. */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-"));
  const [np, mp, cpPort] = [await freePort(), await freePort(), await freePort()];
  const nats = Bun.spawn(["nats-server", "-a", "127.0.0.1", "-p", String(np), "-m", String(mp), "-js", "-sd", join(dir, "nats")], { stdout: "ignore", stderr: "ignore" });
  await waitOk(`http://127.0.0.1:${mp}/healthz?js-enabled-only=true`);
  const natsUrl = `nats://127.0.0.1:${np}`;
  const secret = "bench-webhook-secret-0123456789";
  const forgeSecret = "bench-forge-webhook-secret-0123456789";
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const control = Bun.spawn([process.execPath, "run", "src/control/main.ts"], {
    cwd: ROOT,
    stdout: "ignore",
    stderr: "inherit", // NIMBUS_LOG_LEVEL=error: quiet unless it fails (e.g. a setting it needs is missing)
    env: {
      ...process.env,
      NIMBUS_NATS_URL: natsUrl,
      NIMBUS_AUTH_SECRET: "b".repeat(40),
      NIMBUS_SECRETS_KEY: Buffer.alloc(32, 7).toString("base64url"), // required since job secrets are sealed at rest
      NIMBUS_CONTROL_PORT: String(cpPort),
      NIMBUS_LOG_LEVEL: "error",
      NIMBUS_GITHUB_WEBHOOK_SECRET: secret,
      NIMBUS_GITHUB_APP_ID: "1",
      NIMBUS_GITHUB_APP_PRIVATE_KEY: key,
      NIMBUS_GITHUB_API_URL: "http://127.0.0.1:9",
      NIMBUS_GITHUB_POLL_INTERVAL_MS: "86400000",
      NIMBUS_ORG_SUBMISSIONS_PER_WINDOW: "10000000",
      // One Gitea connection whose API is unreachable (the poll backs off): only its webhook route is measured.
      NIMBUS_FORGES: JSON.stringify([{ id: "bench", kind: "gitea", url: "http://127.0.0.1:9", token: "bench-forge-api-token", webhookSecret: forgeSecret, org: "acme" }]),
      NIMBUS_FORGE_POLL_INTERVAL_MS: "86400000",
    },
  });
  const url = `http://127.0.0.1:${cpPort}`;
  let gen: ReturnType<typeof Bun.spawn> | undefined;
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
    await nc.close();

    process.stderr.write("load generator signing deliveries...\n");
    gen = Bun.spawn([process.execPath, "run", import.meta.path, "--loadgen", "--rate", String(RATE), "--seconds", String(SECONDS), "--sustain", String(SUSTAIN)], {
      cwd: ROOT,
      env: { ...process.env, BENCH_URL: url, BENCH_SECRET: secret, BENCH_FORGE_SECRET: forgeSecret },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    const pids = { control: control.pid, "nats-server": nats.pid, "load generator": gen.pid };
    const snap = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
    const phases: Record<string, { cpu: Record<string, number>; wall: number; result: Record<string, number> }> = {};
    let started: { cpu: Record<string, number>; wall: number } | undefined;
    let text = "";
    for await (const chunk of gen.stdout as unknown as AsyncIterable<Uint8Array>) {
      text += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = text.indexOf("\n")) >= 0) {
        if (process.env.BENCH_DEBUG) process.stderr.write(`loadgen: ${text.slice(0, nl)}\n`);
        const m = JSON.parse(text.slice(0, nl)) as { phase: string; at: string } & Record<string, number>;
        text = text.slice(nl + 1);
        if (m.phase === "ready") {
          (gen.stdin as import("bun").FileSink).write("go\n");
          (gen.stdin as import("bun").FileSink).flush();
        } else if (m.at === "start") started = { cpu: snap(), wall: performance.now() };
        else {
          const cpu = snap();
          phases[m.phase] = { cpu: Object.fromEntries(Object.keys(cpu).map((k) => [k, cpu[k]! - started!.cpu[k]!])), wall: performance.now() - started!.wall, result: m };
        }
      }
    }
    if ((await gen.exited) !== 0) throw new Error("the load generator failed");
    const s = phases.sustained!;
    const o = phases.open!;
    const gt = phases.gitea!;
    const rows = [
      ["NATS KV create (raw, 64 in flight)", `${Math.round(createRate)} ops/s`, "", "", ""],
      ["NATS KV CAS update (raw, 64 in flight)", `${Math.round(casRate)} ops/s`, "", "", ""],
      [`webhooks sustained (closed loop, 32 conns, ${SUSTAIN}s)`, `${Math.round(s.result.count! / s.result.seconds!)} /s`, "", "", ""],
      [`webhooks at ${RATE}/s offered for ${SECONDS}s`, `${Math.round(o.result.count! / SECONDS)} /s`, `${o.result.p50!.toFixed(2)} ms`, `${o.result.p99!.toFixed(2)} ms`, `${o.result.max!.toFixed(1)} ms`],
      [`Gitea webhooks sustained (closed loop, 32 conns, ${SUSTAIN}s)`, `${Math.round(gt.result.count! / gt.result.seconds!)} /s`, "", "", ""],
    ];
    const w = [54, 14, 10, 10, 10];
    const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(w[i]!)).join(" | ") + " |";
    console.log(line(["measure (one nats-server, this machine)", "rate", "p50", "p99", "max"]));
    console.log("|" + w.map((n) => "-".repeat(n + 2)).join("|") + "|");
    for (const r of rows) console.log(line(r));
    console.log("\nCPU per webhook (ms) and share of one core, by process:");
    for (const [name, ph] of [["sustained", s], ["open loop", o], ["Gitea sustained", gt]] as const) {
      const parts = Object.entries(ph.cpu).map(([k, ms]) => `${k} ${(ms / ph.result.count!).toFixed(3)} ms (${Math.round((100 * ms) / ph.wall)} %)`);
      console.log(`  ${name}: ${parts.join(", ")}`);
    }
    if (o.result.errors) console.log(`errors (not 201): ${o.result.errors}`);
    if (gt.result.errors) console.log(`Gitea errors (not 201): ${gt.result.errors}`);
  } finally {
    gen?.kill();
    control.kill();
    await control.exited;
    nats.kill();
    await nats.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--loadgen")) await loadgen();
else await main();
