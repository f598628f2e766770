/** `bun run src/logs/main.ts`: the log service process. */
import { loadConfig } from "../core/config/load.ts";
import { runService } from "../core/service.ts";
import { privateUmask } from "../core/private-files.ts";
import { logSettings } from "./config.ts";
import { startLogService } from "./server.ts";

privateUmask(); // every file this service writes is data (archives, the index, logs): owner-only
await runService("logs", () => startLogService(loadConfig(logSettings)));
