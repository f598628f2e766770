/** `bun run src/cache/main.ts`: the Actions cache service process. */
import { loadConfig } from "../core/config/load.ts";
import { runService } from "../core/service.ts";
import { privateUmask } from "../core/private-files.ts";
import { cacheSettings } from "./config.ts";
import { startCacheService } from "./server.ts";

privateUmask(); // every file this service writes is data (archives, the index, logs): owner-only
await runService("cache", () => startCacheService(loadConfig(cacheSettings)));
