import type { Command } from "../command.ts";
import { agentsList } from "./agents.ts";
import { cacheEnvCommand, cacheLs, cacheRm, cacheUsage } from "./cache.ts";
import { configCheck, configShow } from "./config.ts";
import { jobsCancel, jobsList, jobsShow } from "./jobs.ts";
import { labelsExplain } from "./labels.ts";
import { imagesActivate, imagesBuild, imagesList } from "./images.ts";
import { logs } from "./logs.ts";
import { run } from "./run.ts";
import { status } from "./status.ts";
import { tokenList, tokenMint, tokenRevoke } from "./token.ts";
import { up } from "./up.ts";
import { limitsSet, limitsShow } from "./limits.ts";
import { audit } from "./audit.ts";
import { registryGc } from "./registry-gc.ts";
import { registryLs, registryRm, registryUsage } from "./registry.ts";
import { doctor } from "./doctor.ts";

export const COMMANDS: Command[] = [up, status, run, jobsList, jobsShow, jobsCancel, logs, agentsList, tokenMint, tokenList, tokenRevoke, limitsShow, limitsSet, audit, configShow, configCheck, labelsExplain, doctor, imagesBuild, imagesActivate, imagesList, cacheLs, cacheUsage, cacheRm, cacheEnvCommand, registryLs, registryUsage, registryRm, registryGc];
