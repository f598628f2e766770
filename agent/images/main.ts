/**
 * The images commands (the CLI's `nimbus images ...` can delegate here):
 *   bun run agent/images/main.ts build VERSION [--file images.yaml] [--dir artifacts/images]
 *   bun run agent/images/main.ts activate VERSION [--dir ...]
 *   bun run agent/images/main.ts list [--dir ...]
 */
import { resolve } from "node:path";
import { buildImage } from "./build.ts";
import { ImageStore } from "./store.ts";
import { loadVersions } from "./versions.ts";

export const DEFAULT_IMAGES_DIR = resolve(import.meta.dir, "../../artifacts/images");

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
}

if (import.meta.main) {
  const [cmd, version] = process.argv.slice(2);
  const store = new ImageStore(resolve(flag("--dir", DEFAULT_IMAGES_DIR)));
  if (cmd === "build" && version) {
    const v = loadVersions(resolve(flag("--file", "images.yaml"))).get(version);
    if (!v) throw new Error(`no version ${version} in the images file`);
    console.log(JSON.stringify(await buildImage(v, store)));
  } else if (cmd === "activate" && version) console.log(JSON.stringify(store.activate(version)));
  else if (cmd === "list") console.log(JSON.stringify({ active: store.active(), built: store.index() }, null, 2));
  else {
    console.error("usage: images build VERSION [--file F] | activate VERSION | list   [--dir D]");
    process.exit(2);
  }
}
