/**
 * The mirror tests' upstream: a real Debian `docker-registry` (the distribution registry 2.8), on a
 * free port with its storage in a temp dir, optionally behind htpasswd auth; images pushed into it
 * with skopeo from an OCI layout; stopped, paused (SIGSTOP: an upstream that stalls) and resumed.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "../support/net.ts";

export interface Upstream {
  url: string;
  hostPort: string;
  dir: string;
  /** Path of a blob's bytes in the upstream's storage (to corrupt it). */
  blobPath(digest: string): string;
  stop(): Promise<void>;
  pause(): void;
  resume(): void;
  cleanup(): Promise<void>;
}

export async function startUpstream(o: { htpasswd?: { user: string; password: string } } = {}): Promise<Upstream> {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-upstream-"));
  const port = await freePort();
  mkdirSync(join(dir, "data"), { recursive: true });
  let auth = "";
  if (o.htpasswd) {
    const hash = await Bun.password.hash(o.htpasswd.password, { algorithm: "bcrypt", cost: 4 });
    writeFileSync(join(dir, "htpasswd"), `${o.htpasswd.user}:${hash}\n`);
    auth = `auth:\n  htpasswd:\n    realm: upstream\n    path: ${join(dir, "htpasswd")}\n`;
  }
  const cfg = join(dir, "config.yml");
  writeFileSync(cfg, `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`);
  const proc = Bun.spawn(["docker-registry", "serve", cfg], { stdout: "ignore", stderr: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => fetch(`${url}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false), 15_000, "docker-registry to start");
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    proc.kill("SIGCONT");
    proc.kill();
    await proc.exited;
  };
  return {
    url,
    hostPort: `127.0.0.1:${port}`,
    dir,
    blobPath: (digest) => join(dir, "data", "docker", "registry", "v2", "blobs", "sha256", digest.slice(7, 9), digest.slice(7), "data"),
    stop,
    pause: () => proc.kill("SIGSTOP"),
    resume: () => proc.kill("SIGCONT"),
    async cleanup() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run a client; its output and exit code. */
export async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

export async function ok(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await run(argv, env);
  if (r.code !== 0) throw new Error(`${argv.slice(0, 2).join(" ")} failed (${r.code}): ${r.err}`);
  return r.out;
}

/** Push an OCI layout's image into the upstream with skopeo. */
export async function pushToUpstream(up: Upstream, layoutDir: string, tag: string, dest: string, creds?: string): Promise<void> {
  await ok(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", ...(creds ? ["--dest-creds", creds] : []), `oci:${layoutDir}:${tag}`, `docker://${up.hostPort}/${dest}`]);
}

/** Files in the registry's blob temp dir (a failed fetch must leave none). */
export function tempFiles(registryDir: string): string[] {
  return readdirSync(join(registryDir, "blobs", "tmp"));
}
