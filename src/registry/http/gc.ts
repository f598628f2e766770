/**
 * `POST /admin/gc` (`nimbus registry gc`): run garbage collection now and answer its figures (the
 * core's GcReport). Operators only, with a Nimbus token (Bearer) checked against the ledger: an
 * org's token is 403, a missing, forged, expired or revoked one 401; registry tokens and jobs'
 * registry credentials are not Nimbus tokens and are refused too. The body is optional JSON
 * `{"dryRun": true}` (at most 1 KiB, no other field), or `?dryRun=true`. Repeating the request is
 * harmless: each run removes only what is garbage when it runs, one run at a time. Errors are
 * `{code, message}` like every Nimbus admin API.
 */
import { Elysia } from "elysia";
import { AppError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { authenticate, readBodyText, type AuthOptions } from "../../http/common.ts";
import type { GcOptions, GcReport } from "../gc/collect.ts";

export const MAX_GC_BODY_BYTES = 1024;

function flag(raw: unknown, where: string): boolean {
  if (raw === true || raw === "true" || raw === "1") return true;
  if (raw === false || raw === "false" || raw === "0" || raw === undefined) return false;
  throw new AppError("validation_failed", `${where}: must be true or false`, { field: "dryRun" });
}

/** The request's options: `?dryRun=` or a JSON body `{dryRun}`; anything else is refused, naming it. */
export async function gcOptions(request: Request): Promise<GcOptions> {
  const url = new URL(request.url);
  for (const k of url.searchParams.keys()) if (k !== "dryRun") throw new AppError("validation_failed", `${k.slice(0, 40)}: not a parameter (only dryRun)`, { field: k.slice(0, 40) });
  const text = (await readBodyText(request, MAX_GC_BODY_BYTES)).trim();
  let body: Record<string, unknown> = {};
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError("invalid_json", "request body is not valid JSON; expected {\"dryRun\": true|false} or nothing");
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) throw new AppError("validation_failed", "request body must be a JSON object");
    for (const k of Object.keys(body)) if (k !== "dryRun") throw new AppError("validation_failed", `${k.slice(0, 40)}: not a field (only dryRun)`, { field: k.slice(0, 40) });
  }
  const q = url.searchParams.get("dryRun");
  return { dryRun: flag(q ?? undefined, "dryRun") || flag(body.dryRun, "dryRun") };
}

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });
}

export function registryGcRoutes(gc: { run(o: GcOptions): Promise<GcReport> }, auth: AuthOptions, log: Logger) {
  return new Elysia({ name: "registry-gc" }).post(
    "/admin/gc",
    async ({ request }) => {
      try {
        await authenticate(request, auth, ["operator"]);
        return reply(200, await gc.run(await gcOptions(request)));
      } catch (e) {
        if (e instanceof AppError) return reply(e.status, e.toJSON());
        log.error("registry gc request failed", { error: e });
        return reply(500, { code: "internal", message: "internal error" });
      }
    },
    { parse: "none" },
  );
}
