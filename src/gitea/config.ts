/**
 * Gitea and Forgejo instances of the control plane: NIMBUS_FORGES holds a JSON array (or @path to a
 * JSON file) of forge connections, validated once at start; an empty value means no forge. Each
 * connection maps one instance to one Nimbus organisation. Its API token and webhook secret are
 * registered for redaction and never shown (`forgeView`).
 */
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { ORG_ID_PATTERN } from "../auth/principal.ts";
import { int, list, type ConfigOf, type SettingsSpec } from "../core/config/settings.ts";
import { registerSecret } from "../core/log.ts";

export const FORGE_KINDS = ["gitea", "forgejo"] as const;
export type ForgeKind = (typeof FORGE_KINDS)[number];

/** Where ephemeral runners are registered: the whole instance (admin token), an org, or a repository. */
export type RunnerScope = { level: "instance" } | { level: "org"; org: string } | { level: "repo"; owner: string; repo: string };

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const FORGE_ID = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const MAX_FORGES = 64;

export function parseRunnerScope(s: string): RunnerScope | null {
  if (s === "instance") return { level: "instance" };
  const org = /^org:(.+)$/.exec(s);
  if (org && NAME.test(org[1]!)) return { level: "org", org: org[1]! };
  const repo = /^repo:([^/]+)\/([^/]+)$/.exec(s);
  if (repo && NAME.test(repo[1]!) && NAME.test(repo[2]!)) return { level: "repo", owner: repo[1]!, repo: repo[2]! };
  return null;
}

const httpUrl = v.pipe(
  v.string("must be a string"),
  v.check((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "http:" || u.protocol === "https:") && !u.search && !u.hash && !u.username;
    } catch {
      return false;
    }
  }, "must be an http or https URL without query, fragment or credentials"),
  v.transform((s) => s.replace(/\/+$/, "")),
);

const entry = v.strictObject(
  {
    id: v.pipe(v.string("must be a string"), v.regex(FORGE_ID, "must be lower-case letters, digits and dashes, up to 32")),
    kind: v.picklist(FORGE_KINDS, `must be one of ${FORGE_KINDS.join(", ")}`),
    url: httpUrl,
    runnerUrl: v.optional(httpUrl),
    token: v.pipe(v.string("must be a string"), v.minLength(8, "must be at least 8 characters")),
    webhookSecret: v.pipe(v.string("must be a string"), v.minLength(16, "must be at least 16 characters")),
    org: v.pipe(v.string("must be a string"), v.regex(ORG_ID_PATTERN, "must be a Nimbus organisation id")),
    runnerScope: v.optional(
      v.pipe(
        v.string("must be a string"),
        v.check((s) => parseRunnerScope(s) !== null, "must be instance, org:NAME or repo:OWNER/NAME"),
      ),
      "instance",
    ),
  },
  "is not a known key",
);

export interface ForgeConnection {
  id: string;
  kind: ForgeKind;
  /** Base URL of the instance (no trailing slash): the REST API is at /api/v1, the runner API at /api/actions. */
  url: string;
  /** The instance as runners in jobs reach it (their `.runner` address); absent: `url`. */
  runnerUrl?: string;
  token: string;
  webhookSecret: string;
  org: string;
  runnerScope: RunnerScope;
}

function issuePath(issue: v.BaseIssue<unknown>): string {
  return (issue.path ?? []).map((p) => (typeof p.key === "number" ? `[${p.key}]` : `.${String(p.key)}`)).join("");
}

/** Parses NIMBUS_FORGES text (JSON, or @path to a JSON file); throws an Error naming the bad entry and field. */
export function parseForges(text: string): ForgeConnection[] {
  const t = text.trim();
  if (!t) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(t.startsWith("@") ? readFileSync(t.slice(1), "utf8") : t);
  } catch (e) {
    throw new Error(`must be a JSON array of forge connections, or @path to a JSON file (${(e as Error).message})`);
  }
  if (!Array.isArray(raw)) throw new Error("must be a JSON array of forge connections");
  if (raw.length > MAX_FORGES) throw new Error(`at most ${MAX_FORGES} forge connections`);
  const r = v.safeParse(v.array(entry), raw);
  if (!r.success) {
    const i = r.issues[0]!;
    throw new Error(`forges${issuePath(i)}: ${i.message}`);
  }
  const seen = new Map<string, string>();
  for (const [n, f] of r.output.entries()) {
    for (const key of [`id:${f.id}`, `url:${f.url}`]) {
      if (seen.has(key)) throw new Error(`forges[${n}]: ${key.split(":")[0]} ${JSON.stringify(key.slice(key.indexOf(":") + 1))} is already used by forges[${seen.get(key)}]`);
      seen.set(key, String(n));
    }
  }
  return r.output.map((f) => {
    registerSecret(f.token);
    registerSecret(f.webhookSecret);
    return { ...f, runnerScope: parseRunnerScope(f.runnerScope)! };
  });
}

const forgesSchema = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    try {
      return parseForges(dataset.value);
    } catch (e) {
      addIssue({ message: (e as Error).message });
      return NEVER;
    }
  }),
) as v.GenericSchema<string, ForgeConnection[]>;

export const giteaSettings = {
  forges: {
    env: "NIMBUS_FORGES",
    doc: "Gitea/Forgejo connections: a JSON array (or @path to a JSON file) of {id, kind: gitea|forgejo, url, runnerUrl (as jobs reach it; default url), token, webhookSecret, org, runnerScope: instance|org:NAME|repo:OWNER/NAME}. Empty: none.",
    schema: forgesSchema,
    default: "",
    secret: true,
  },
  forgeRunnerCommand: {
    env: "NIMBUS_FORGE_RUNNER_COMMAND",
    doc: "Command that starts the runner in a Gitea/Forgejo job's sandbox/VM, in the directory where the agent has written the runner's `.runner` file.",
    schema: list(),
    default: "act_runner,daemon,--once",
  },
  forgeJobTimeoutSeconds: { env: "NIMBUS_FORGE_JOB_TIMEOUT_SECONDS", doc: "Longest a Gitea/Forgejo runner may live.", schema: int(10, 7 * 86_400), default: "21600" },
  forgePollIntervalMs: {
    env: "NIMBUS_FORGE_POLL_INTERVAL_MS",
    doc: "How often the leader lists each forge's waiting jobs (the backstop for lost webhooks); a forge answering 5xx is backed off up to 32 times this.",
    schema: int(100, 86_400_000),
    default: "30000",
  },
} satisfies SettingsSpec;

export type GiteaConfig = ConfigOf<typeof giteaSettings>;

export function scopeText(s: RunnerScope): string {
  return s.level === "instance" ? "instance" : s.level === "org" ? `org:${s.org}` : `repo:${s.owner}/${s.repo}`;
}

/** What `nimbus forges list` shows: never the token or the webhook secret. */
export function forgeView(f: ForgeConnection) {
  return { id: f.id, kind: f.kind, url: f.url, org: f.org, runnerScope: scopeText(f.runnerScope), webhookPath: `/webhooks/forge/${f.id}` };
}
export type ForgeView = ReturnType<typeof forgeView>;
