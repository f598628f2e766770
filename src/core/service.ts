/** Process wrapper shared by every service: start, report config errors clearly, stop on SIGTERM/SIGINT. */
import { ConfigError } from "./config/load.ts";
import { createLogger } from "./log.ts";

export async function runService(
  name: string,
  start: () => Promise<{ stop(): Promise<void> }>,
  opts: { forceExitAfterMs?: number } = {},
): Promise<void> {
  const log = createLogger(name);
  let service: { stop(): Promise<void> };
  try {
    service = await start();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`nimbus ${name}: ${e.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    log.error("failed to start", { error: e });
    process.exit(1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    const force = setTimeout(() => process.exit(1), opts.forceExitAfterMs ?? 30_000);
    force.unref();
    try {
      await service.stop();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
