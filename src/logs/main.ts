/** `bun run src/logs/main.ts`: the log service process. */
import { loadConfig } from "../core/config/load.ts";
import { runService } from "../core/service.ts";
import { logSettings } from "./config.ts";
import { startLogService } from "./server.ts";

await runService("logs", () => startLogService(loadConfig(logSettings)));
