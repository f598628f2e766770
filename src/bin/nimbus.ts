#!/usr/bin/env bun
/**
 * The `nimbus` binary (`npm run build` compiles this file): the CLI, and with `nimbus service NAME`
 * one of the services, so a host needs one file for the control plane, the log, cache and registry
 * services and the CLI. `nimbus up` started from this binary runs its services through it too.
 */
import { main } from "../cli/main.ts";
import { SERVICES, isService } from "../core/binaries.ts";

const [word, name, ...rest] = Bun.argv.slice(2);
if (word === "service") {
  if (!name || !isService(name) || rest.length) {
    process.stderr.write(`nimbus service: name one of ${SERVICES.join(", ")} (settings come from the environment; see nimbus config show)\n`);
    process.exit(2);
  }
  // Each service's main module starts it and keeps the process alive until SIGTERM/SIGINT.
  if (name === "control") await import("../control/main.ts");
  else if (name === "logs") await import("../logs/main.ts");
  else if (name === "cache") await import("../cache/main.ts");
  else await import("../registry/main.ts");
} else {
  process.exit(await main(Bun.argv.slice(2)));
}
