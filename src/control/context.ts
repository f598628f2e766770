/** Everything the control plane's routes and workers share, built once at start. */
import type { NatsConnection } from "@nats-io/transport-node";
import type { ConfigOf } from "../core/config/settings.ts";
import type { Logger } from "../core/log.ts";
import type { Topology } from "../nats/topology.ts";
import type { JobStore } from "../jobs/store.ts";
import type { JobIndex } from "../jobs/job-index.ts";
import type { SubmitDeps } from "../jobs/submit.ts";
import type { VerifiedToken } from "../auth/tokens.ts";
import type { JobLogSink } from "../github/job-log-sync.ts";
import type { AuthOptions } from "../http/common.ts";
import type { MintDeps } from "../auth/mint.ts";
import type { LimitsStore } from "../jobs/limits/store.ts";
import type { Admission } from "../jobs/limits/window.ts";
import type { ControlMetrics } from "./metrics.ts";
import type { controlSettings } from "./config.ts";
import type { ForgeWorkers } from "../gitea/service.ts";

export interface ControlContext {
  config: ConfigOf<typeof controlSettings>;
  nc: NatsConnection;
  topology: Topology;
  store: JobStore;
  index: JobIndex;
  submitDeps: SubmitDeps;
  metrics: ControlMetrics;
  log: Logger;
  /** The caller of an API route: any non-agent role (src/control/access.ts); routes then `authorize`. */
  principal(request: Request): Promise<VerifiedToken>;
  /** Token checks (signature, then the watched ledger) for routes that take more than operators. */
  auth: AuthOptions;
  /** Minting and revoking recorded tokens (the token routes). */
  tokens: MintDeps;
  /** Per-organisation limits (defaults and overrides). */
  limits: LimitsStore;
  /** Per-organisation submission windows (direct and GitHub share them). */
  admission: Admission;
  /** Where ended GitHub jobs' own logs go (the log service: github-log-sink.ts). */
  jobLogSink?: JobLogSink;
  /** The forge workers (the polling backstop), once started. */
  forges?: ForgeWorkers;
}
