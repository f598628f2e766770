/**
 * GitHub settings of the control plane (merged into its settings) and of the agent. GitHub is
 * off while NIMBUS_GITHUB_WEBHOOK_SECRET is empty; once it is set, the App settings are required
 * (checked at start by `checkGithubConfig`, naming the missing key).
 */
import { readFileSync } from "node:fs";
import { int, list, oneOf, optionalStr, url, type ConfigOf, type SettingsSpec } from "../core/config/settings.ts";
import { ConfigError } from "../core/config/load.ts";
import { registerSecret } from "../core/log.ts";

const ms = (env: string, doc: string, dflt: number, min = 10, max = 7 * 86_400_000) => ({ env, doc, schema: int(min, max), default: String(dflt) });

const assignDeadline = ms("NIMBUS_GITHUB_ASSIGN_DEADLINE_MS", "A registered runner GitHub gave no job within this long is removed and replaced.", 300_000);
const heartbeat = ms("NIMBUS_GITHUB_RUNNER_HEARTBEAT_MS", "How often an agent reports that a runner it holds is alive (3 missed: presumed dead).", 5_000, 50);
const retryBase = ms("NIMBUS_GITHUB_RETRY_BASE_MS", "Base of the backoff (with jitter) between runner attempts and GitHub API retries.", 1_000, 1);

export const githubSettings = {
  githubWebhookSecret: {
    env: "NIMBUS_GITHUB_WEBHOOK_SECRET",
    doc: "Secret of the GitHub App's webhook (X-Hub-Signature-256). Empty: GitHub integration off.",
    schema: optionalStr(),
    default: "",
    secret: true,
  },
  githubAppId: { env: "NIMBUS_GITHUB_APP_ID", doc: "GitHub App id or client id (the app JWT's `iss`).", schema: optionalStr(), default: "" },
  githubAppPrivateKey: {
    env: "NIMBUS_GITHUB_APP_PRIVATE_KEY",
    doc: "The App's private key: PEM text, or @/path/to/key.pem.",
    schema: optionalStr(),
    default: "",
    secret: true,
  },
  githubApiUrl: {
    env: "NIMBUS_GITHUB_API_URL",
    doc: "GitHub REST API base URL (GitHub Enterprise Server: https://HOST/api/v3).",
    schema: url(["http", "https"]),
    default: "https://api.github.com",
  },
  githubRunnerScope: {
    env: "NIMBUS_GITHUB_RUNNER_SCOPE",
    doc: "Register JIT runners for the organisation (needs Self-hosted runners: write) or the repository (Administration: write).",
    schema: oneOf(["org", "repo"] as const),
    default: "org",
  },
  githubRunnerGroupId: { env: "NIMBUS_GITHUB_RUNNER_GROUP_ID", doc: "Runner group of JIT runners (1 is the default group).", schema: int(1, 2 ** 31), default: "1" },
  githubRunnerCommand: {
    env: "NIMBUS_GITHUB_RUNNER_COMMAND",
    doc: "Command that starts the runner inside the job's sandbox/VM; it reads ACTIONS_RUNNER_INPUT_JITCONFIG.",
    schema: list(),
    default: "/runner/run.sh",
  },
  githubRunnerExtraLabels: {
    env: "NIMBUS_GITHUB_RUNNER_LABELS",
    doc: "Labels every JIT runner carries besides the job's own.",
    schema: list(),
    default: "self-hosted,linux,x64",
  },
  githubMaxAttempts: {
    env: "NIMBUS_GITHUB_MAX_ATTEMPTS",
    doc: "Runner attempts a GitHub job may use in all (runners GitHub gave to other jobs included); failures are bounded by the failure budget.",
    schema: int(1, 100_000),
    default: "1000",
  },
  githubFailureBudget: { env: "NIMBUS_GITHUB_FAILURE_BUDGET", doc: "Runner failures (crash, acquire error, never assigned) before a GitHub job is failed.", schema: int(1, 100), default: "5" },
  githubJobTimeoutSeconds: { env: "NIMBUS_GITHUB_JOB_TIMEOUT_SECONDS", doc: "Longest a runner may live (GitHub's own job limit is 6 h).", schema: int(10, 7 * 86_400), default: "21600" },
  githubAssignDeadlineMs: assignDeadline,
  githubBootDeadlineMs: ms("NIMBUS_GITHUB_BOOT_DEADLINE_MS", "A job leased or booting for longer than this is marked stuck and re-driven.", 600_000),
  githubQueueDeadlineMs: ms("NIMBUS_GITHUB_QUEUE_DEADLINE_MS", "A queued job with no queue message left for this long is marked stuck and re-driven.", 120_000),
  githubResultDeadlineMs: ms("NIMBUS_GITHUB_RESULT_DEADLINE_MS", "A job waiting this long for GitHub's verdict is marked stuck and looked up.", 30_000),
  githubReconcileIntervalMs: ms("NIMBUS_GITHUB_RECONCILE_INTERVAL_MS", "How often the reconciler checks deadlines and verdicts.", 5_000, 50),
  githubPollIntervalMs: ms("NIMBUS_GITHUB_POLL_INTERVAL_MS", "How often the reconciler lists queued jobs, failed deliveries and offline runners on GitHub.", 60_000, 100),
  githubRetryBaseMs: retryBase,
  githubRunnerHeartbeatMs: heartbeat,
} satisfies SettingsSpec;

export type GithubConfig = ConfigOf<typeof githubSettings>;

export const githubEnabled = (c: GithubConfig) => c.githubWebhookSecret !== "";

/** Cross-field checks: with a webhook secret, the App id and key must be usable. */
export function checkGithubConfig(c: GithubConfig): void {
  if (!githubEnabled(c)) return;
  const problems: { key: string; problem: string }[] = [];
  if (c.githubWebhookSecret.length < 16) problems.push({ key: "NIMBUS_GITHUB_WEBHOOK_SECRET", problem: "must be at least 16 characters" });
  if (!c.githubAppId) problems.push({ key: "NIMBUS_GITHUB_APP_ID", problem: "is required when NIMBUS_GITHUB_WEBHOOK_SECRET is set" });
  if (!c.githubAppPrivateKey) problems.push({ key: "NIMBUS_GITHUB_APP_PRIVATE_KEY", problem: "is required when NIMBUS_GITHUB_WEBHOOK_SECRET is set" });
  else {
    try {
      privateKeyPem(c);
    } catch (e) {
      problems.push({ key: "NIMBUS_GITHUB_APP_PRIVATE_KEY", problem: (e as Error).message });
    }
  }
  if (problems.length) throw new ConfigError(problems);
}

/** The App key as PEM text (read from the file when given as @path). */
export function privateKeyPem(c: GithubConfig): string {
  const v = c.githubAppPrivateKey.trim();
  const pem = v.startsWith("@") ? readFileSync(v.slice(1), "utf8") : v.replace(/\\n/g, "\n");
  if (!/-----BEGIN (RSA )?PRIVATE KEY-----/.test(pem)) throw new Error("is not a PEM private key (or @path to one)");
  registerSecret(pem.trim());
  return pem;
}

/** Agent-side GitHub settings. */
export const githubAgentSettings = {
  githubRunnerDir: {
    env: "NIMBUS_GITHUB_RUNNER_DIR",
    doc: "Host directory holding the runner, mounted read-only at /runner in GitHub jobs' sandboxes (empty: the image provides it).",
    schema: optionalStr(),
    default: "",
  },
  githubAssignDeadlineMs: assignDeadline,
  githubRetryBaseMs: retryBase,
  githubResultWaitMs: ms("NIMBUS_GITHUB_RESULT_WAIT_MS", "How long an agent waits for GitHub's verdict after its runner exits before handing the job off.", 2_000, 0),
  githubRunnerHeartbeatMs: heartbeat,
} satisfies SettingsSpec;

export type GithubAgentConfig = ConfigOf<typeof githubAgentSettings>;
