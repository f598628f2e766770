/** `nimbus limits show [ORG]` and `nimbus limits set ORG ...`: per-organisation limits. */
import { AppError } from "../../core/errors.ts";
import { parseTtl } from "../../auth/tokens.ts";
import type { LimitField, LimitsOverride, OrgLimits } from "../../jobs/limits/values.ts";
import type { Command } from "../command.ts";
import { duration, table } from "../output.ts";

interface OrgView {
  override: LimitsOverride;
  limits: OrgLimits;
}

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Bytes as "512", "10G", "1.5T" (binary units). */
export function parseBytes(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw new AppError("bad_request", `${flag}: give bytes, e.g. 500M, 10G or 0 for none`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

function bytes(n: number): string {
  if (n === 0) return "none";
  const [unit, size] = Object.entries(UNITS).reverse().find(([, s]) => n >= s) ?? ["", 1];
  return `${+(n / size).toFixed(1)}${unit.toUpperCase()}${unit ? "iB" : "B"}`;
}

function rows(orgs: Record<string, OrgView>): Record<string, unknown>[] {
  const mark = (v: OrgView, f: LimitField, text: string) => (f in v.override ? `${text}*` : text);
  return Object.entries(orgs).map(([org, v]) => ({
    org,
    running: mark(v, "running", v.limits.running === 0 ? "no limit" : String(v.limits.running)),
    submissions: mark(v, "submissions", `${v.limits.submissions}`),
    window: mark(v, "windowMs", duration(v.limits.windowMs)),
    cache: mark(v, "cacheBytes", bytes(v.limits.cacheBytes)),
    registry: mark(v, "registryBytes", bytes(v.limits.registryBytes)),
  }));
}

const COLUMNS = ["org", "running", "submissions", "window", "cache", "registry"];

export const limitsShow: Command = {
  name: "limits show",
  summary: "show per-organisation limits (operators: every override; org-admins: their own)",
  usage: "limits show [ORG] [--json]",
  details: `Without ORG: the defaults and every organisation with an override (operators), or your own organisation.
A value marked * is the organisation's override; the others are the defaults (NIMBUS_ORG_* settings).`,
  options: {},
  positionals: { min: 0, max: 1, name: "ORG" },
  async run(ctx, _v, [org]) {
    const api = await ctx.client();
    if (org) {
      const r = await api.get<{ org: string; defaults: OrgLimits } & OrgView>(`/api/orgs/${encodeURIComponent(org)}/limits`);
      if (ctx.json) return ctx.out(JSON.stringify(r, null, 2)), 0;
      ctx.out(table(rows({ [r.org]: r }), COLUMNS));
      return 0;
    }
    const r = await api.get<{ defaults: OrgLimits; orgs: Record<string, OrgView> }>("/api/limits");
    if (ctx.json) return ctx.out(JSON.stringify(r, null, 2)), 0;
    ctx.out(table(rows({ "(defaults)": { override: {}, limits: r.defaults }, ...r.orgs }), COLUMNS));
    return 0;
  },
};

export const limitsSet: Command = {
  name: "limits set",
  summary: "change an organisation's limits (operators)",
  usage: "limits set ORG [--running N] [--submissions N] [--window 1m] [--cache-quota 10G] [--registry-quota 50G] [--json]",
  details: `--running: jobs the org runs at once across every agent (0: no limit; more wait in the queue).
--submissions per --window (e.g. 30s, 1m, 1h): jobs submitted, direct and GitHub together (more: 429).
--cache-quota, --registry-quota: bytes kept (0: none). The registry applies a new quota within seconds, no restart.
Give "default" as a value to return that limit to the default. Every change is an audit record.`,
  options: { running: { type: "string" }, submissions: { type: "string" }, window: { type: "string" }, "cache-quota": { type: "string" }, "registry-quota": { type: "string" } },
  positionals: { min: 1, max: 1, name: "ORG" },
  async run(ctx, v, [org]) {
    const patch: Record<string, number | null> = {};
    const set = (flag: string, field: LimitField, parse: (t: string) => number) => {
      if (v[flag] === undefined) return;
      const text = String(v[flag]);
      patch[field] = text === "default" ? null : parse(text);
    };
    const whole = (flag: string) => (t: string) => {
      if (!/^\d+$/.test(t)) throw new AppError("bad_request", `--${flag}: give a whole number (or "default")`);
      return Number(t);
    };
    set("running", "running", whole("running"));
    set("submissions", "submissions", whole("submissions"));
    set("window", "windowMs", (t) => parseTtl(t) * 1000);
    set("cache-quota", "cacheBytes", (t) => parseBytes(t, "--cache-quota"));
    set("registry-quota", "registryBytes", (t) => parseBytes(t, "--registry-quota"));
    if (!Object.keys(patch).length) throw new AppError("bad_request", "name a limit to change: --running, --submissions, --window, --cache-quota or --registry-quota");
    const api = await ctx.client();
    const r = await api.put<{ org: string } & OrgView>(`/api/orgs/${encodeURIComponent(org!)}/limits`, patch);
    if (ctx.json) return ctx.out(JSON.stringify(r, null, 2)), 0;
    ctx.out(table(rows({ [r.org]: r }), COLUMNS));
    return 0;
  },
};
