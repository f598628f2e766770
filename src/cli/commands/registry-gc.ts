/** `nimbus registry gc [--dry-run]`: run the registry's garbage collection now (POST /admin/gc, operators). */
import { AppError } from "../../core/errors.ts";
import { readState } from "../../up/state.ts";
import type { Command } from "../command.ts";
import type { CliContext } from "../context.ts";
import { readError, unreachable } from "../errors.ts";
import { bytes } from "./cache.ts";
import type { GcReport } from "../../protocol/registry-admin.ts";

/** The registry's URL and an admin token: NIMBUS_REGISTRY_URL / NIMBUS_TOKEN, else the local stack's. */
export function registryTarget(ctx: CliContext): { url: string; token: string } {
  const state = readState(ctx.dataDir);
  const url = ctx.env.NIMBUS_REGISTRY_URL || state?.registryUrl;
  const token = ctx.env.NIMBUS_TOKEN || state?.adminToken;
  if (!url) throw new AppError("unavailable", `the registry's URL is not known: set NIMBUS_REGISTRY_URL (a local stack in ${ctx.dataDir} records it; start one with \`nimbus up\`)`);
  if (!token) throw new AppError("unauthorized", "no token: set NIMBUS_TOKEN to an operator token (nimbus token mint --role operator --name NAME)");
  return { url: url.replace(/\/+$/, ""), token };
}

function summary(r: GcReport): string {
  const verb = r.dryRun ? "would remove" : "removed";
  return [
    `${r.dryRun ? "dry run: " : ""}${r.repositories} repositories, ${r.marked} digests live, ${r.durationMs} ms`,
    `${verb} ${r.blobsSwept} blobs (${bytes(r.bytesSwept)}), ${r.manifestsRemoved} manifests, ${r.blobLinksRemoved} blob links, ${r.uploadsRemoved} abandoned uploads`,
    ...(r.evictedLinks ? [`evicted ${r.evictedLinks} links (${bytes(r.evictedBytes)}) from organisations past their soft quota`] : []),
  ].join("\n");
}

export const registryGc: Command = {
  name: "registry gc",
  summary: "collect the registry's garbage now: unreferenced blobs, expired untagged manifests, abandoned uploads (operators)",
  usage: "registry gc [--dry-run] [--json]",
  details: `Runs the registry's online garbage collection at once (it also runs every NIMBUS_REGISTRY_GC_INTERVAL_SECONDS);
pushes and pulls go on meanwhile. --dry-run counts what would go and removes nothing.
The registry is NIMBUS_REGISTRY_URL, or the local stack's; the token is NIMBUS_TOKEN (an operator's), or the stack's admin token.`,
  options: { "dry-run": { type: "boolean" } },
  async run(ctx, v) {
    const { url, token } = registryTarget(ctx);
    const res = await fetch(`${url}/admin/gc`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ dryRun: v["dry-run"] === true }),
    }).catch((e) => {
      throw unreachable("the registry", url, e);
    });
    if (!res.ok) throw await readError(res);
    const r = (await res.json()) as GcReport;
    ctx.out(ctx.json ? JSON.stringify(r, null, 2) : summary(r));
    return 0;
  },
};
