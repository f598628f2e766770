/**
 * How one Nimbus process starts another: from a checkout, `bun run <entry>.ts`; from the binaries
 * `npm run build` compiles (artifacts/bin/nimbus and nimbus-agent), `nimbus service NAME` and the
 * agent binary beside it. `nimbus up` and `nimbus install` ask here, so both work either way.
 */
import { dirname, join } from "node:path";

export const SERVICES = ["control", "logs", "cache", "registry"] as const;
export type ServiceName = (typeof SERVICES)[number];
export const isService = (s: string): s is ServiceName => (SERVICES as readonly string[]).includes(s);

/** A compiled binary's own modules live in Bun's embedded file system. */
export const isCompiled = (main = Bun.main): boolean => main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(main);

/** The agent binary's name beside `nimbus`. */
export const AGENT_BINARY = "nimbus-agent";

/** argv that starts service `name`; `root` is the checkout (unused when compiled). */
export function serviceArgv(name: ServiceName, root: string, compiled = isCompiled(), execPath = process.execPath): string[] {
  return compiled ? [execPath, "service", name] : [execPath, "run", join(root, "src", name, "main.ts")];
}

/** argv that starts an agent. */
export function agentArgv(root: string, compiled = isCompiled(), execPath = process.execPath): string[] {
  return compiled ? [join(dirname(execPath), AGENT_BINARY)] : [execPath, "run", join(root, "agent", "main.ts")];
}

/**
 * Where built kernels, rootfs images and OCI conversions live: the checkout's artifacts/ folder, or
 * for the compiled binaries (installed on a host, no checkout beside them) /var/lib/nimbus/artifacts.
 * Each use has its own setting to point elsewhere (NIMBUS_VM_ASSETS_DIR, NIMBUS_IMAGES_DIR).
 */
export const ARTIFACTS_DIR = isCompiled() ? "/var/lib/nimbus/artifacts" : join(import.meta.dir, "../../artifacts");
