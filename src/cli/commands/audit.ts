/** `nimbus audit`: the audit trail (operator and org-admin actions), from the control plane's export. */
import type { AuditRecord } from "../../auth/audit.ts";
import type { Command } from "../command.ts";
import { table } from "../output.ts";

export const audit: Command = {
  name: "audit",
  summary: "show the audit trail: token mints and revocations, cancels, limit changes",
  usage: "audit [--org ORG] [--since 24h] [--until TIME] [--json]",
  details: `--since and --until take a duration back from now (30m, 24h, 7d) or a time (ISO 8601); --since defaults to 24h.
Operators see every organisation (or the one --org names); org-admins their own. --json prints JSON lines, as the
export endpoint (GET /api/audit) serves them.`,
  options: { org: { type: "string" }, since: { type: "string" }, until: { type: "string" } },
  async run(ctx, v) {
    const api = await ctx.client();
    const q = new URLSearchParams({ since: String(v.since ?? "24h") });
    if (v.org) q.set("org", String(v.org));
    if (v.until) q.set("until", String(v.until));
    const records: AuditRecord[] = [];
    for await (const r of api.lines<AuditRecord>(`/api/audit?${q}`)) {
      if (ctx.json) ctx.out(JSON.stringify(r));
      else records.push(r);
    }
    if (ctx.json) return 0;
    if (!records.length) return ctx.out("no audit records"), 0;
    const rows = records.map((r) => ({
      time: new Date(r.at).toISOString(),
      who: `${r.actor.sub} (${r.actor.role}${r.actor.org ? ` of ${r.actor.org}` : ""})`,
      action: r.action,
      org: r.org ?? "-",
      target: r.target ?? "-",
      from: r.remote ?? "-",
      outcome: r.outcome,
    }));
    ctx.out(table(rows, ["time", "who", "action", "org", "target", "from", "outcome"]));
    return 0;
  },
};
