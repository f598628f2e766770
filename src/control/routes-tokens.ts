/** Token routes: mint, list and revoke recorded tokens, thin over the ledger core (src/auth/mint.ts). */
import { Elysia } from "elysia";
import { authorize, listingOrg } from "../auth/principal.ts";
import { mintFor, parseMintRequest, revokeFor } from "../auth/mint.ts";
import { parseJsonBody, readBodyText } from "../http/common.ts";
import type { ControlContext } from "./context.ts";

export function tokenRoutes(ctx: ControlContext) {
  return new Elysia({ name: "tokens" })
    // The API's roles, as on every /api route: an agent token is a 403 at the door, before the ledger is read.
    .derive(async ({ request }) => ({ principal: await ctx.principal(request) }))
    .post(
      "/api/tokens",
      async ({ request, set, principal }) => {
        authorize(principal, "tokens:mint"); // before the body is read
        const r = parseMintRequest(parseJsonBody(await readBodyText(request, ctx.config.maxBodyBytes)));
        const minted = await mintFor(ctx.tokens, principal, r);
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
    .post("/api/tokens/:id/revoke", async ({ params, principal }) => ({ token: await revokeFor(ctx.tokens, principal, params.id) }));
}
