/**
 * Per-organisation limit overrides in NATS KV (bucket `limits` of src/nats/topology.ts), one key
 * per org id, read from a live mirror (the hot path never waits on NATS for them) and changed by
 * compare-and-set, so two operators' changes to one org never lose a field.
 */
import type { KV } from "@nats-io/kv";
import { AppError } from "../../core/errors.ts";
import { isOrgId } from "../../auth/principal.ts";
import { unlessCasLost } from "../../nats/errors.ts";
import { KvMirror } from "../../nats/kv-mirror.ts";
import { applyPatch, effectiveLimits, type LimitField, type LimitsOverride, type OrgLimits } from "./values.ts";

export class LimitsStore {
  private constructor(
    private readonly kv: KV,
    private readonly view: KvMirror<LimitsOverride>,
    readonly defaults: OrgLimits,
  ) {}

  static async open(kv: KV, defaults: OrgLimits): Promise<LimitsStore> {
    const view = await KvMirror.start(kv, (e) => {
      try {
        return e.json<LimitsOverride>();
      } catch {
        return null;
      }
    });
    return new LimitsStore(kv, view, defaults);
  }

  /** The org's limits as in force (its override over the defaults), as last seen by the mirror. */
  for(org: string): OrgLimits {
    return effectiveLimits(this.defaults, isOrgId(org) ? this.view.get(org) : undefined);
  }

  /** Orgs with an override (as last seen). */
  overridden(): string[] {
    return [...this.view.entries()].filter(([, o]) => Object.keys(o).length > 0).map(([org]) => org).sort();
  }

  overrideOf(org: string): LimitsOverride {
    return (isOrgId(org) && this.view.get(org)) || {};
  }

  /** The org's override and limits read from NATS itself (not the mirror): what an operator is shown. */
  async read(org: string): Promise<{ override: LimitsOverride; limits: OrgLimits }> {
    const e = isOrgId(org) ? await this.kv.get(org) : null;
    const override: LimitsOverride = e && e.operation === "PUT" && e.value.length > 0 ? e.json<LimitsOverride>() : {};
    return { override, limits: effectiveLimits(this.defaults, override) };
  }

  /** Change the org's override (null fields return to the default); returns the override before and after. */
  async set(org: string, patch: Record<LimitField, number | null | undefined>): Promise<{ before: LimitsOverride; after: LimitsOverride }> {
    if (!isOrgId(org)) throw new AppError("validation_failed", "org: lower-case letters, digits and dashes, up to 64", { field: "org" });
    for (let tries = 0; tries < 20; tries++) {
      const e = await this.kv.get(org);
      const live = e && e.operation === "PUT" && e.value.length > 0;
      const before: LimitsOverride = live ? e.json<LimitsOverride>() : {};
      const after = applyPatch(before, patch);
      const value = new TextEncoder().encode(JSON.stringify(after));
      const rev = await unlessCasLost(live ? this.kv.update(org, value, e.revision) : this.kv.create(org, value));
      if (rev !== null) return { before, after };
    }
    throw new AppError("unavailable", `limits of ${org} are too contended; try again`);
  }

  stop(): void {
    this.view.stop();
  }
}

/**
 * One limit as in force for each org, from a live mirror: what an agent needs at claim (`running`)
 * and the cache at commit (`cacheBytes`).
 */
/** One limit of every org, from a watch of the overrides: the org's override, else `dflt`. */
export async function watchedLimit(kv: KV, field: LimitField, dflt: number): Promise<{ of(org: string): number; stop(): void }> {
  const view = await KvMirror.start(kv, (e) => {
    try {
      return e.json<LimitsOverride>();
    } catch {
      return null;
    }
  });
  return { of: (org) => (isOrgId(org) ? view.get(org)?.[field] : undefined) ?? dflt, stop: () => view.stop() };
}
