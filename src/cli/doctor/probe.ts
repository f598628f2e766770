/** The host as `nimbus doctor` reads it (src/cli/doctor/checks.ts judges what it reads). */
import { accessSync, constants, existsSync, readFileSync, statfsSync } from "node:fs";
import { createServer } from "node:net";
import { release } from "node:os";
import { dirname } from "node:path";
import type { HostProbe } from "./checks.ts";

const TIMEOUT_MS = 3000;

async function versionOf(argv: string[]): Promise<string | null> {
  try {
    const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => p.kill(), TIMEOUT_MS);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    const line = (out.trim() || err.trim()).split("\n")[0]?.trim();
    return code === 0 && line ? line.slice(0, 120) : null;
  } catch {
    return null; // not on PATH
  }
}

function nearestExisting(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export const hostProbe: HostProbe = {
  access(path) {
    if (!existsSync(path)) return { exists: false, readWrite: false };
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
      return { exists: true, readWrite: true };
    } catch {
      return { exists: true, readWrite: false };
    }
  },
  exists: (path) => existsSync(path),
  version: versionOf,
  cpuFlags() {
    try {
      const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => l.startsWith("flags"));
      return new Set((line?.split(":")[1] ?? "").trim().split(/\s+/));
    } catch {
      return new Set();
    }
  },
  kernelRelease: () => release(),
  isRoot: () => process.getuid?.() === 0,
  freeBytes(path) {
    const s = statfsSync(nearestExisting(path));
    return s.bavail * s.bsize;
  },
  portFree: (port) =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    }),
  async nats(monitorUrl) {
    const base = monitorUrl.replace(/\/+$/, "");
    const signal = () => AbortSignal.timeout(TIMEOUT_MS);
    try {
      const h = await fetch(`${base}/healthz?js-enabled-only=true`, { signal: signal() });
      await h.body?.cancel();
      const sent = Date.now();
      const v = (await (await fetch(`${base}/varz`, { signal: signal() })).json()) as { now?: string };
      const localMidMs = Math.round((sent + Date.now()) / 2);
      const serverNowMs = v.now ? Date.parse(v.now) : NaN;
      return { healthy: h.status === 200, serverNowMs: Number.isFinite(serverNowMs) ? serverNowMs : null, localMidMs };
    } catch (e) {
      return { healthy: false, serverNowMs: null, localMidMs: Date.now(), error: (e as Error).message };
    }
  },
};
