/**
 * Who can run a `docker` job: only a VM agent whose active image carries Docker (the ci image:
 * `nimbus images build ci --activate`, or `nimbus up --vm`); such agents advertise the
 * `x64.vm.<size>.docker` pools. A sandbox agent, or a VM agent on another image, never pulls those
 * pools, so a docker job no live agent serves is refused at submission instead of waiting forever.
 */
import { AppError } from "../core/errors.ts";

/** What `docker` needs, in words the refusal and `nimbus labels explain docker` share. */
export const DOCKER_NEEDS = "a VM agent whose active image is the ci image (nimbus up --vm, or on a qemu agent: nimbus images build ci --activate); sandbox agents and VM agents on other images cannot serve it";

/** Throws unless some live agent serves POOL (a docker job's pool). */
export function refuseUnservedDocker(pool: string, servedPools: readonly string[][]): void {
  if (servedPools.some((pools) => pools.includes(pool))) return;
  throw new AppError("unavailable", `label docker: no agent serves pool ${pool}: a docker job needs ${DOCKER_NEEDS}`, { field: "labels", pool, reason: "no_docker_agent" });
}
