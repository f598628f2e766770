// Drives the unmodified npm @actions/cache from Node, the way the runner runs a JavaScript action:
// configured only by environment variables. Usage: node driver.mjs '{"op":"save"|"restore",...}'
import * as cache from "@actions/cache";

const req = JSON.parse(process.argv[2]);
process.chdir(process.env.GITHUB_WORKSPACE);
let result;
if (req.op === "save") result = await cache.saveCache(req.paths, req.key);
else result = await cache.restoreCache(req.paths, req.key, req.restoreKeys ?? []);
process.stdout.write(`\nNIMBUS_RESULT ${JSON.stringify({ result: result ?? null })}\n`);
