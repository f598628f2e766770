/**
 * A real S3-compatible server for tests: s3rver (data on disk) under Node with the legacy OpenSSL
 * provider, in its own process group, on a free port. `stop()` + `start()` simulate an outage.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, waitFor } from "../../support/net.ts";

export interface S3Server {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  cleanup(): Promise<void>;
}

const BIN = resolve(import.meta.dir, "../../../node_modules/s3rver/bin/s3rver.js");

export async function startS3(bucket = "nimbus-cache"): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-s3-"));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let proc: ReturnType<typeof Bun.spawn> | undefined;
  const up = async () => (await fetch(`${endpoint}/`).catch(() => null)) !== null;
  const server: S3Server = {
    endpoint, bucket, accessKeyId: "S3RVER", secretAccessKey: "S3RVER",
    async start() {
      proc = Bun.spawn(["setsid", "node", BIN, "-d", dir, "-a", "127.0.0.1", "-p", String(port), "-s", "--configure-bucket", bucket], {
        env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider" },
        stdout: "ignore",
        stderr: "ignore",
      });
      await waitFor(up, 15_000, "s3rver to listen");
    },
    async stop() {
      if (!proc) return;
      proc.kill("SIGKILL");
      await proc.exited;
      proc = undefined;
      await waitFor(async () => !(await up()), 5000, "s3rver to stop");
    },
    async cleanup() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
