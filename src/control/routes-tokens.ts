/** Token routes: mint, list and revoke recorded tokens, thin over the ledger core (src/auth/mint.ts); mint and revoke are audited. */
import { Elysia } from "elysia";
import { authorize, listingOrg } from "../auth/principal.ts";
import { mintFor, parseMintRequest, revokeFor, type Minted } from "../auth/mint.ts";
import type { LedgerEntry } from "../auth/ledger.ts";
import { audited, remoteOf } from "./audit.ts";
import { parseJsonBody, readBodyText } from "../http/common.ts";
import type { ControlContext } from "./context.ts";

export function tokenRoutes(ctx: ControlContext) {
  return new Elysia({ name: "tokens" })
    // The API's roles, as on every /api route: an agent token is a 403 at the door, before the ledger is read.
    .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
    .post(
      "/api/tokens",
      async ({ request, set, principal, server }) => {
        authorize(principal, "tokens:mint"); // before the body is read
        const r = parseMintRequest(parseJsonBody(await readBodyText(request, ctx.config.maxBodyBytes)));
        const call = { principal, action: "token.mint" as const, org: (m: Minted) => m.entry.org, remote: remoteOf(server, request), detail: (m: Minted) => ({ id: m.entry.id, role: m.entry.role, sub: m.entry.sub }) };
        const minted = await audited(ctx, call, () => mintFor(ctx.tokens, principal, r));
        set.status = 201;
        return minted;
      },
      { parse: "none" },
    )
    .get("/api/tokens", async ({ query, principal }) => {
      authorize(principal, "tokens:read");
      const org = listingOrg(principal, typeof query.org === "string" && query.org ? query.org : undefined);
      return { tokens: await ctx.tokens.ledger.list(org) };
    })
    .post("/api/tokens/:id/revoke", async ({ params, principal, request, server }) => {
      const call = { principal, action: "token.revoke" as const, org: (e: LedgerEntry) => e.org, target: String(params.id).slice(0, 64), remote: remoteOf(server, request) };
      return { token: await audited(ctx, call, () => revokeFor(ctx.tokens, principal, params.id)) };
    });
}
