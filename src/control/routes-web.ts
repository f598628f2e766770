/**
 * The dashboard (web/, built into web/dist by `bun run web/build.ts`) at `/`: the page, its two
 * assets and its icon (at /favicon.svg, which the page links, and /favicon.ico, where browsers and
 * tools look unasked). The page asks for a token itself and talks to /api like any client.
 */
import { Elysia } from "elysia";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { isCompiled } from "../core/binaries.ts";

export const DASHBOARD_DIR = resolve(import.meta.dir, "../../web/dist");

/** The built dashboard's files: web/dist in a checkout; in the compiled binary, embedded (`--asset web/dist`). */
type Files = (name: string) => Blob | undefined;
const fromDir = (dir: string): Files => (name) => (existsSync(join(dir, name)) ? Bun.file(join(dir, name)) : undefined);
const embedded: Files = (name) => Bun.embeddedFiles.find((f) => (f as Blob & { name?: string }).name === `dist/${name}`);
const ASSETS: Record<string, string> = { "app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8" };

function icon(files: Files): Response {
  const file = files("favicon.svg");
  if (!file) return new Response("not found\n", { status: 404 });
  return new Response(file, { headers: { "content-type": "image/svg+xml", "cache-control": "public, max-age=86400" } });
}

export function webRoutes(dir?: string) {
  const files = dir ? fromDir(dir) : isCompiled() ? embedded : fromDir(DASHBOARD_DIR);
  const notBuilt = () =>
    new Response("The dashboard is not built: run `bun run web/build.ts` (scripts/setup.sh does it).\n", { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } });
  return new Elysia({ name: "web" })
    .get("/", () => {
      const page = files("index.html");
      if (!page) return notBuilt();
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" } });
    })
    .get("/favicon.svg", () => icon(files))
    .get("/favicon.ico", () => icon(files))
    .get("/ui/:file", ({ params }) => {
      const type = ASSETS[params.file];
      if (!type) return new Response("not found\n", { status: 404 });
      const file = files(params.file);
      if (!file) return notBuilt();
      // Versioned by the page (?v=<digest>): a new build is a new URL.
      return new Response(file, { headers: { "content-type": type, "cache-control": "public, max-age=31536000, immutable" } });
    });
}
