/**
 * The audit export for compliance: GET /api/audit?org=ORG&since=24h&until=TIME, JSON lines
 * (application/x-ndjson), streamed oldest first as read from the audit stream. Operators read any
 * org (or all, without `org`); org-admins their own; other roles 403.
 */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { authorize, listingOrg } from "../auth/principal.ts";
import { parseTtl } from "../auth/tokens.ts";
import { readAudit } from "../auth/audit.ts";
import type { ControlContext } from "./context.ts";

/** A point in time: a duration back from now ("24h", "30m", "7d"), an ISO time, or ms since epoch. */
export function parseSince(text: string, field: string, now = Date.now()): number {
  if (/^\d+[smhd]$/.test(text)) return now - parseTtl(text) * 1000;
  const t = /^\d{10,}$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(t)) throw new AppError("validation_failed", `${field}: give a duration back from now (24h, 30m, 7d) or a time (ISO 8601)`, { field });
  return t;
}

const enc = new TextEncoder();

export function auditRoutes(ctx: ControlContext) {
  return new Elysia({ name: "audit" })
    .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
    .get("/api/audit", ({ principal, query }) => {
      authorize(principal, "audit:read");
      const org = listingOrg(principal, query.org === undefined || query.org === "" ? undefined : String(query.org));
      const since = query.since ? parseSince(String(query.since), "since") : undefined;
      const until = query.until ? parseSince(String(query.until), "until") : undefined;
      const records = readAudit(ctx.topology.js, { org, since, until });
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          try {
            const next = await records.next();
            if (next.done) c.close();
            else c.enqueue(enc.encode(JSON.stringify(next.value) + "\n"));
          } catch (e) {
            ctx.log.warn("audit export failed", { error: e });
            c.error(e);
          }
        },
        async cancel() {
          await records.return(undefined);
        },
      });
      return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
    });
}
