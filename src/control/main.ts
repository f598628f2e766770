/** `bun run src/control/main.ts`: the control plane process. */
import { loadConfig } from "../core/config/load.ts";
import { runService } from "../core/service.ts";
import { controlSettings } from "./config.ts";
import { startControlPlane } from "./server.ts";

await runService("control", () => startControlPlane(loadConfig(controlSettings)));
