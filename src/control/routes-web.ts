/**
 * The dashboard (web/, built into web/dist by `bun run web/build.ts`) at `/`: the page, its two
 * assets and its icon (at /favicon.svg, which the page links, and /favicon.ico, where browsers and
 * tools look unasked). The page asks for a token itself and talks to /api like any client.
 */
import { Elysia } from "elysia";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const DASHBOARD_DIR = resolve(import.meta.dir, "../../web/dist");
const ASSETS: Record<string, string> = { "app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8" };

function icon(dir: string): Response {
  const file = join(dir, "favicon.svg");
  if (!existsSync(file)) return new Response("not found\n", { status: 404 });
  return new Response(Bun.file(file), { headers: { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400" } });
}

export function webRoutes(dir = DASHBOARD_DIR) {
  const notBuilt = () =>
    new Response("The dashboard is not built: run `bun run web/build.ts` (scripts/setup.sh does it).\n", { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } });
  return new Elysia({ name: "web" })
    .get("/", () => {
      const page = join(dir, "index.html");
      if (!existsSync(page)) return notBuilt();
      return new Response(Bun.file(page), { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" } });
    })
    .get("/favicon.svg", () => icon(dir))
    .get("/favicon.ico", () => icon(dir))
    .get("/ui/:file", ({ params }) => {
      const type = ASSETS[params.file];
      if (!type) return new Response("not found\n", { status: 404 });
      const file = join(dir, params.file);
      if (!existsSync(file)) return notBuilt();
      // Versioned by the page (?v=<digest>): a new build is a new URL.
      return new Response(Bun.file(file), { headers: { "content-type": type, "cache-control": "public, max-age=31536000, immutable" } });
    });
}
