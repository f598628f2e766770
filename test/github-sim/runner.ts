/**
 * The runner stand-in: started from a JIT config (ACTIONS_RUNNER_INPUT_JITCONFIG, the same
 * encoding as the real runner: base64 JSON of `.runner` and `.credentials`, each base64), it
 * connects to the simulator, takes one job, runs its steps as shell commands (output on
 * stdout/stderr like the real runner's log) with the job's variables in their environment and the
 * workspace as their directory (as the real runner gives a JavaScript action: GitHub's results URL
 * and runtime token, GITHUB_WORKSPACE, RUNNER_TEMP), reports the conclusion with the job's log (each line
 * after its time, steps under `##[group]Run …` headers, as the real runner uploads it) and exits 0. Exits 2 on an
 * acquire error (rejected, or removed while waiting), as the real runner exits on such errors.
 */
export {};

const encoded = process.env.ACTIONS_RUNNER_INPUT_JITCONFIG;
if (!encoded) {
  console.error("runner: ACTIONS_RUNNER_INPUT_JITCONFIG is not set");
  process.exit(2);
}
const files = JSON.parse(atob(encoded)) as Record<string, string>;
const runner = JSON.parse(atob(files[".runner"]!)) as { agentName: string; serverUrl: string };
const creds = JSON.parse(atob(files[".credentials"]!)) as { data: { token: string } };
runner.serverUrl = runner.serverUrl.replace("//_gateway:", `//${defaultGateway()}:`);

/**
 * `_gateway` (as systemd-resolved names it) is this network namespace's default gateway: a runner in
 * a sandbox job's namespace or a microVM reaches the simulator on its host's bridge address, which
 * differs between agents.
 */
function defaultGateway(): string {
  const { readFileSync } = require("node:fs") as typeof import("node:fs");
  const route = readFileSync("/proc/net/route", "utf8").split("\n").map((l) => l.trim().split(/\s+/)).find((f) => f[1] === "00000000");
  if (!route) return "_gateway";
  const hex = route[2]!;
  return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join(".");
}

/** One call to the simulator; like the real runner's broker calls, none may hang (acquire long-polls 2 s). */
async function call(op: string, body: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${runner.serverUrl}/_runner/${op}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: creds.data.token, ...body }), signal: AbortSignal.timeout(15_000) });
}

const connected = await call("connect");
if (!connected.ok) {
  console.error(`runner ${runner.agentName}: could not connect: ${(await connected.text()).slice(0, 200)}`);
  process.exit(2);
}
console.log(`runner ${runner.agentName}: listening for jobs`);
const beat = setInterval(() => void call("heartbeat").catch(() => {}), 500);

let job = null as { id: number; name: string; steps: string[]; variables?: Record<string, string> } | null;
while (!job) {
  const r = await call("acquire").catch(() => null);
  if (!r) continue;
  if (r.status === 204) continue;
  if (!r.ok) {
    console.error(`runner ${runner.agentName}: acquire failed (${r.status}): ${(await r.text()).slice(0, 200)}`);
    process.exit(2);
  }
  job = ((await r.json()) as { job: typeof job }).job;
}
console.log(`Running job: ${job.name} (${job.id})`);
const { mkdirSync } = require("node:fs") as typeof import("node:fs");
const home = process.env.HOME || process.cwd();
let workspace = `${home}/work/${(job.variables?.GITHUB_REPOSITORY ?? "repo").split("/").pop()}`;
let temp = `${home}/work/_temp`;
try {
  mkdirSync(workspace, { recursive: true });
  mkdirSync(temp, { recursive: true });
} catch {
  workspace = temp = process.cwd(); // a home it may not write: where it was started
}
const stepEnv = { ...process.env, ...job.variables, GITHUB_WORKSPACE: workspace, RUNNER_TEMP: temp };
let conclusion = "success";
/** The job's log as GitHub keeps it: each line after the time it was written. */
const jobLog: string[] = [];
const logged = (text: string, to: NodeJS.WriteStream = process.stdout) => {
  to.write(`${text}\n`);
  jobLog.push(`${new Date().toISOString().replace("Z", "0000Z")} ${text}`);
};
async function pipe(stream: ReadableStream<Uint8Array>, to: NodeJS.WriteStream): Promise<void> {
  let rest = "";
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    const parts = (rest + new TextDecoder().decode(chunk)).split("\n");
    rest = parts.pop()!;
    for (const line of parts) logged(line, to);
  }
  if (rest) logged(rest, to);
}
for (const step of job.steps) {
  logged(`##[group]Run ${step}`);
  logged("##[endgroup]");
  const p = Bun.spawn(["sh", "-c", step], { stdout: "pipe", stderr: "pipe", env: stepEnv, cwd: workspace });
  await Promise.all([pipe(p.stdout, process.stdout), pipe(p.stderr, process.stderr)]);
  const code = await p.exited;
  if (code !== 0) {
    logged(`##[error]Process completed with exit code ${code}.`);
    conclusion = "failure";
    break;
  }
}
logged("Cleaning up orphan processes");
// The real runner retries its completion report; a lost answer must not leave the job or the runner behind.
for (let i = 0; i < 5; i++) {
  const r = await call("complete", { jobId: job.id, conclusion, log: jobLog.join("\n") + "\n" }).catch(() => null);
  if (r) break;
  await Bun.sleep(500);
}
clearInterval(beat);
console.log(`Job ${job.name} completed with result: ${conclusion}`);
process.exit(0);
