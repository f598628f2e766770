/** `bun run src/cache/main.ts`: the Actions cache service process. */
import { loadConfig } from "../core/config/load.ts";
import { runService } from "../core/service.ts";
import { cacheSettings } from "./config.ts";
import { startCacheService } from "./server.ts";

await runService("cache", () => startCacheService(loadConfig(cacheSettings)));
