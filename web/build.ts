/**
 * Builds the dashboard into web/dist (app.js, style.css, favicon.svg, index.html), which the control plane
 * serves at /. Bun's bundler (TSX built in): no separate build tool to install. Idempotent.
 *
 *   bun run web/build.ts [--quiet]
 */
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const WEB_DIR = import.meta.dir;
export const DIST_DIR = join(WEB_DIR, "dist");

export async function buildDashboard(): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now();
  const tmp = `${DIST_DIR}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const out = await Bun.build({
    entrypoints: [join(WEB_DIR, "src/main.tsx")],
    outdir: tmp,
    naming: "app.js",
    target: "browser",
    minify: true,
    define: { "process.env.NODE_ENV": JSON.stringify("production") },
  });
  if (!out.success) throw new Error(`dashboard build failed:\n${out.logs.map(String).join("\n")}`);
  copyFileSync(join(WEB_DIR, "style.css"), join(tmp, "style.css"));
  copyFileSync(join(WEB_DIR, "favicon.svg"), join(tmp, "favicon.svg"));
  const app = readFileSync(join(tmp, "app.js"));
  const version = new Bun.CryptoHasher("sha256").update(app).update(readFileSync(join(tmp, "style.css"))).digest("hex").slice(0, 12);
  writeFileSync(join(tmp, "index.html"), readFileSync(join(WEB_DIR, "index.html"), "utf8").replaceAll("__VERSION__", version));
  rmSync(DIST_DIR, { recursive: true, force: true });
  renameSync(tmp, DIST_DIR);
  return { bytes: app.length, ms: Math.round(performance.now() - t0) };
}

if (import.meta.main) {
  const r = await buildDashboard();
  if (!process.argv.includes("--quiet")) console.log(`dashboard built into web/dist: app.js ${Math.round(r.bytes / 1024)} KiB in ${r.ms} ms`);
}
