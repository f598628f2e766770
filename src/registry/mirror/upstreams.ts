/**
 * The mirror's upstreams from the registry's settings, validated once at start: NAME=URL pairs
 * (`NIMBUS_REGISTRY_UPSTREAMS`), optional credentials per name from a JSON file
 * (`NIMBUS_REGISTRY_UPSTREAM_CREDENTIALS_FILE`), the registry-mirrors default. Every problem is a
 * ConfigError naming its key; a credential's value is never part of a message, and every one is
 * registered for redaction.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../../core/config/load.ts";
import { registerSecret } from "../../core/log.ts";

/** An upstream's name: one lower-case name component (it becomes `mirror/NAME/...`). */
const UPSTREAM_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const MAX_UPSTREAMS = 32;
const MAX_CREDENTIALS_BYTES = 64 * 1024;

export interface Credentials {
  username: string;
  password: string;
}

export interface Upstream {
  name: string;
  /** Origin of the upstream registry (`http(s)://host[:port]`), no trailing slash. */
  url: string;
  credentials?: Credentials;
}

export interface MirrorConfig {
  upstreams: ReadonlyMap<string, Upstream>;
  /** The upstream serving `library/...` (the registry-mirrors endpoint); null: none. */
  defaultUpstream: string | null;
  anonymous: boolean;
  tagTtlMs: number;
  timeoutMs: number;
}

export interface MirrorSettings {
  upstreams: string;
  upstreamCredentialsFile: string;
  mirrorDefault: string;
  mirrorAnonymous: boolean;
  mirrorTagTtlSeconds: number;
  mirrorTimeoutSeconds: number;
}

type Problem = { key: string; problem: string };

function parseOrigin(text: string): string | string[] {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return ["is not a URL"];
  }
  const problems: string[] = [];
  if (u.protocol !== "http:" && u.protocol !== "https:") problems.push("must be an http or https URL");
  if (u.username || u.password) problems.push("must not carry credentials (use NIMBUS_REGISTRY_UPSTREAM_CREDENTIALS_FILE)");
  if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.hash) problems.push("must be an origin only (scheme, host, port): the registry's API is under its /v2/");
  return problems.length ? problems : u.origin;
}

/** `NAME=URL,...` into upstreams; problems name the pair (never a credential: URLs with one are refused). */
export function parseUpstreams(text: string): { upstreams: Map<string, Upstream>; problems: Problem[] } {
  const key = "NIMBUS_REGISTRY_UPSTREAMS";
  const upstreams = new Map<string, Upstream>();
  const problems: Problem[] = [];
  const pairs = text.split(",").map((p) => p.trim()).filter(Boolean);
  if (pairs.length > MAX_UPSTREAMS) problems.push({ key, problem: `at most ${MAX_UPSTREAMS} upstreams` });
  for (const [i, pair] of pairs.slice(0, MAX_UPSTREAMS).entries()) {
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq).trim();
    if (eq < 0) {
      problems.push({ key, problem: `entry ${i + 1} is not NAME=URL` });
      continue;
    }
    if (!UPSTREAM_NAME.test(name) || name.length > 64) {
      problems.push({ key, problem: `entry ${i + 1}: upstream name must be lower-case letters, digits and dashes (at most 64)` });
      continue;
    }
    if (upstreams.has(name)) problems.push({ key, problem: `upstream ${name} is named twice` });
    const origin = parseOrigin(pair.slice(eq + 1).trim());
    if (Array.isArray(origin)) for (const p of origin) problems.push({ key, problem: `upstream ${name}: the URL ${p}` });
    else upstreams.set(name, { name, url: origin });
  }
  return { upstreams, problems };
}

/** The credentials file: `{NAME: {username, password}}`, each NAME a configured upstream. */
export function parseCredentials(text: string, upstreams: ReadonlyMap<string, Upstream>): { credentials: Map<string, Credentials>; problems: Problem[] } {
  const key = "NIMBUS_REGISTRY_UPSTREAM_CREDENTIALS_FILE";
  const credentials = new Map<string, Credentials>();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { credentials, problems: [{ key, problem: "is not valid JSON" }] };
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) return { credentials, problems: [{ key, problem: 'must hold an object {"NAME":{"username","password"}}' }] };
  const problems: Problem[] = [];
  for (const [name, c] of Object.entries(doc as Record<string, unknown>)) {
    const shown = JSON.stringify(name.slice(0, 64));
    if (!upstreams.has(name)) {
      problems.push({ key, problem: `names ${shown}, which is not an upstream of NIMBUS_REGISTRY_UPSTREAMS` });
      continue;
    }
    const { username, password } = (c ?? {}) as Record<string, unknown>;
    if (typeof username !== "string" || typeof password !== "string" || !username || !password || username.includes(":") || username.length > 256 || password.length > 4096) {
      problems.push({ key, problem: `${shown}: username (no colon, at most 256) and password (at most 4096) must be non-empty strings` });
      continue;
    }
    registerSecret(password);
    credentials.set(name, { username, password });
  }
  return { credentials, problems };
}

function readCredentialsFile(path: string): string | Problem {
  try {
    const text = readFileSync(path, "utf8");
    if (text.length > MAX_CREDENTIALS_BYTES) return { key: "NIMBUS_REGISTRY_UPSTREAM_CREDENTIALS_FILE", problem: `is larger than ${MAX_CREDENTIALS_BYTES} bytes` };
    return text;
  } catch (e) {
    return { key: "NIMBUS_REGISTRY_UPSTREAM_CREDENTIALS_FILE", problem: `cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})` };
  }
}

/** The mirror's configuration, or a ConfigError listing every problem. */
export function mirrorConfig(s: MirrorSettings): MirrorConfig {
  const { upstreams, problems } = parseUpstreams(s.upstreams);
  if (s.upstreamCredentialsFile) {
    const text = readCredentialsFile(s.upstreamCredentialsFile);
    if (typeof text !== "string") problems.push(text);
    else {
      const c = parseCredentials(text, upstreams);
      problems.push(...c.problems);
      for (const [name, cred] of c.credentials) upstreams.get(name)!.credentials = cred;
    }
  }
  const dflt = s.mirrorDefault.trim();
  if (dflt && !upstreams.has(dflt)) problems.push({ key: "NIMBUS_REGISTRY_MIRROR_DEFAULT", problem: `${JSON.stringify(dflt.slice(0, 64))} is not an upstream of NIMBUS_REGISTRY_UPSTREAMS` });
  if (problems.length) throw new ConfigError(problems);
  return { upstreams, defaultUpstream: dflt || null, anonymous: s.mirrorAnonymous, tagTtlMs: s.mirrorTagTtlSeconds * 1000, timeoutMs: s.mirrorTimeoutSeconds * 1000 };
}
