import type { ForgeView } from "../../gitea/config.ts";
import type { Command } from "../command.ts";
import { table } from "../output.ts";

export const forgesList: Command = {
  name: "forges list",
  summary: "list the Gitea/Forgejo connections of the control plane (operators)",
  usage: "forges list [--json]",
  details: `Connections come from NIMBUS_FORGES on the control plane; tokens and webhook secrets are never shown.
Each forge sends its webhooks to the path shown (POST, signed with the connection's webhook secret).`,
  options: {},
  async run(ctx) {
    const api = await ctx.client();
    const r = await api.get<{ forges: ForgeView[]; github: boolean }>("/api/forges");
    if (ctx.json) return ctx.out(JSON.stringify(r, null, 2)), 0;
    ctx.out(`github: ${r.github ? "on" : "off"}`);
    if (!r.forges.length) return ctx.out("no Gitea/Forgejo connections (NIMBUS_FORGES is empty)"), 0;
    ctx.out(table(r.forges.map((f) => ({ ...f, scope: f.runnerScope, webhook: f.webhookPath })), ["id", "kind", "url", "org", "scope", "webhook"]));
    return 0;
  },
};
