/** POST /api/agents/nats-credentials: an agent token buys its NATS user JWT (src/nats/agent-credentials.ts). */
import { Elysia } from "elysia";
import { AppError } from "../core/errors.ts";
import { authenticate, parseJsonBody, readBodyText } from "../http/common.ts";
import { agentNatsCredentials } from "../nats/agent-credentials.ts";
import type { ControlContext } from "./context.ts";

/** A public key and a field name fit in far less. */
const MAX_BODY = 1024;

export function agentNatsRoutes(ctx: ControlContext) {
  return new Elysia({ name: "agent-nats" })
    // Agent tokens only (the rest of the API refuses them; here every other role is refused).
    .derive(async ({ request }) => ({ principal: await authenticate(request, ctx.auth, ["agent"]) }))
    .post(
      "/api/agents/nats-credentials",
      async ({ request, principal }) => {
        if (!ctx.config.natsAccountSeed) throw new AppError("unavailable", "this control plane mints no NATS users (NIMBUS_NATS_ACCOUNT_SEED is not set)");
        const body = parseJsonBody(await readBodyText(request, MAX_BODY));
        return agentNatsCredentials(ctx.config.natsAccountSeed, principal, body, ctx.config.natsUserTtlMs);
      },
      { parse: "none" },
    );
}
