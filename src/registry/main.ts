/** `bun run src/registry/main.ts`: the registry (OCI distribution API) process. */
import { loadConfig } from "../core/config/load.ts";
import { runService } from "../core/service.ts";
import { privateUmask } from "../core/private-files.ts";
import { registrySettings } from "./config.ts";
import { startRegistryService } from "./server.ts";

privateUmask(); // blobs, metadata and uploads are data: owner-only
await runService("registry", () => startRegistryService(loadConfig(registrySettings)));
