/**
 * Ephemeral runners on a forge for one Nimbus job, run by the control plane (the reusable
 * registration token never leaves it): mint registers the runner named after (job, attempt) with
 * `Register{ephemeral: true}` and the job's labels under act_runner's `:host` schema (the job runs in
 * the sandbox/VM itself), and returns the `.runner` file the guest's `act_runner daemon --once`
 * reads; a leftover runner of that name (an earlier try whose answer was lost) is deleted first.
 * Remove deletes it at teardown ("gone" when the forge already dropped it, as Gitea does once an
 * ephemeral runner's task is done).
 */
import { ConnectError } from "@connectrpc/connect";
import { AppError, isAppError } from "../core/errors.ts";
import type { JobRecord } from "../jobs/record.ts";
import { runnerName } from "../jobs/runner-names.ts";
import type { ForgeConnection } from "./config.ts";
import { ForgeRestClient } from "./rest-client.ts";
import { runnerClients } from "./runner-client.ts";
import { runnerFile, type RunnerFile } from "./runner-file.ts";

export const NIMBUS_RUNNER_VERSION = "nimbus";

export interface MintedForgeRunner {
  runnerName: string;
  runnerId: number;
  /** The `.runner` file's text: this runner's own uuid and token, never the registration token. */
  file: string;
}

/** act_runner labels are `name[:schema[:arg]]`; a job label with a colon can never name a runner label. */
export function forgeRunnerLabels(job: JobRecord): string[] {
  const bad = job.labels.find((l) => l.includes(":"));
  if (bad) throw new AppError("bad_request", `label ${JSON.stringify(bad)} has a colon, which act_runner reads as a schema; spell it without one`);
  return [...new Set(job.labels)].map((l) => `${l}:host`);
}

export async function mintForgeRunner(forge: ForgeConnection, job: JobRecord, fetchFn: typeof fetch = fetch): Promise<MintedForgeRunner> {
  if (!job.forge || job.forge.forgeId !== forge.id) throw new AppError("bad_request", `job ${job.id} is not a job of forge ${forge.id}`);
  const name = runnerName(job.id, job.attempt);
  const labels = forgeRunnerLabels(job);
  const rest = new ForgeRestClient(forge, fetchFn);
  await removeForgeRunnerByName(rest, name);
  const token = await rest.registrationToken();
  let reg;
  try {
    reg = (await runnerClients(forge.url).runner.register({ name, token, version: NIMBUS_RUNNER_VERSION, labels, ephemeral: true })).runner;
  } catch (e) {
    throw new AppError("unavailable", `${forge.id}: Register failed: ${e instanceof ConnectError ? e.rawMessage : (e as Error).message}`);
  }
  if (!reg?.uuid || !reg.token) throw new AppError("unavailable", `${forge.id}: Register answered no runner`);
  const file: RunnerFile = runnerFile({ id: Number(reg.id), uuid: reg.uuid, name, token: reg.token, address: forge.runnerUrl ?? forge.url, labels, ephemeral: true });
  return { runnerName: name, runnerId: Number(reg.id), file: JSON.stringify(file, null, 2) };
}

/** Deletes every runner of that name at the connection's scope; how many were deleted. */
async function removeForgeRunnerByName(rest: ForgeRestClient, name: string): Promise<number> {
  let listed;
  try {
    listed = await rest.runners();
  } catch (e) {
    if (isAppError(e, "not_found")) return 0; // a forge without the runner listing: nothing to reconcile
    throw e;
  }
  let n = 0;
  for (const r of listed.filter((x) => x.name === name)) n += await rest.deleteRunner(r.id).then(() => 1, (e) => (isAppError(e, "not_found") ? 0 : Promise.reject(e)));
  return n;
}

export function removeForgeRunnerNamed(forge: ForgeConnection, name: string, fetchFn: typeof fetch = fetch): Promise<number> {
  return removeForgeRunnerByName(new ForgeRestClient(forge, fetchFn), name);
}

export async function removeForgeRunner(forge: ForgeConnection, runnerId: number, fetchFn: typeof fetch = fetch): Promise<"removed" | "gone"> {
  try {
    await new ForgeRestClient(forge, fetchFn).deleteRunner(runnerId);
    return "removed";
  } catch (e) {
    if (isAppError(e, "not_found")) return "gone";
    throw e;
  }
}
