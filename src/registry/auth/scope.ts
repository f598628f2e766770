/**
 * Docker token-auth scopes, pure: `repository:NAME:ACTION[,ACTION...]` as clients send them in the
 * token request (`scope=`, repeated on GET, space-separated in the POST form), and as the 401
 * challenge names them. Hostile input is bounded here: too many scopes, an oversized scope, a name
 * off the distribution grammar (traversal included) are `bad_request` with the spec's code in
 * `details.ociCode`. A well-formed scope of another type (`registry:catalog:*`) or an unknown action
 * parses: such scopes are simply not granted (the Docker token spec's behaviour).
 */
import { AppError } from "../../core/errors.ts";

export const REGISTRY_ACTIONS = ["pull", "push", "delete"] as const;
export type RegistryAction = (typeof REGISTRY_ACTIONS)[number];

export interface Scope {
  /** `repository` is the only type ever granted. */
  type: string;
  name: string;
  /** Requested actions, `*` expanded to every action; unknown ones are kept (and never granted). */
  actions: string[];
}

/** More scopes than this in one token request is refused (a client asks for one or two). */
export const MAX_SCOPES = 32;
/** A repository name is at most this long (the distribution spec keeps names with a host under 255). */
export const MAX_NAME_LENGTH = 255;
const MAX_SCOPE_LENGTH = MAX_NAME_LENGTH + 64;

/** The distribution spec's repository name grammar. */
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TYPE = /^[a-z0-9]+$/;
const ACTION = /^(?:[a-z]+|\*)$/;

const bad = (ociCode: "NAME_INVALID" | "UNSUPPORTED", message: string) => new AppError("bad_request", message, { ociCode });

export function isRepositoryName(s: string): boolean {
  return s.length <= MAX_NAME_LENGTH && NAME.test(s);
}

/** A repository name, or NAME_INVALID (traversal, upper case, empty components, overlong). */
export function checkRepositoryName(s: string): string {
  if (!isRepositoryName(s)) throw bad("NAME_INVALID", `invalid repository name ${JSON.stringify(s.slice(0, 80))}`);
  return s;
}

/** The organisation a repository belongs to: its first path component (`ORG/...`). */
export function repoOrg(name: string): string {
  return name.split("/", 1)[0]!;
}

/** One scope. The name is the part between the first and the last colon (names hold no colon). */
export function parseScope(text: string): Scope {
  if (text.length > MAX_SCOPE_LENGTH) throw bad("UNSUPPORTED", `a scope is at most ${MAX_SCOPE_LENGTH} characters`);
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first <= 0 || last === first) throw bad("UNSUPPORTED", `malformed scope ${JSON.stringify(text.slice(0, 80))}: expected TYPE:NAME:ACTIONS`);
  const type = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const list = text.slice(last + 1).split(",");
  if (!TYPE.test(type)) throw bad("UNSUPPORTED", `malformed scope type ${JSON.stringify(type.slice(0, 40))}`);
  if (type === "repository") checkRepositoryName(name);
  else if (!name || /[\s\u0000-\u001f]/.test(name)) throw bad("UNSUPPORTED", "malformed scope resource name");
  if (list.some((a) => !ACTION.test(a))) throw bad("UNSUPPORTED", `malformed scope actions in ${JSON.stringify(text.slice(0, 80))}`);
  const actions = [...new Set(list.flatMap((a) => (a === "*" ? [...REGISTRY_ACTIONS] : [a])))];
  return { type, name, actions };
}

/** Every scope of a request (each may itself hold several, space-separated); repeats of one resource merge. */
export function parseScopes(values: readonly string[]): Scope[] {
  const parts = values.flatMap((v) => v.split(" ")).filter(Boolean);
  if (parts.length > MAX_SCOPES) throw bad("UNSUPPORTED", `at most ${MAX_SCOPES} scopes in one token request`);
  const byResource = new Map<string, Scope>();
  for (const s of parts.map(parseScope)) {
    const key = `${s.type}:${s.name}`;
    const seen = byResource.get(key);
    byResource.set(key, seen ? { ...seen, actions: [...new Set([...seen.actions, ...s.actions])] } : s);
  }
  return [...byResource.values()];
}

export function formatScope(s: { type?: string; name: string; actions: readonly string[] }): string {
  return `${s.type ?? "repository"}:${s.name}:${s.actions.join(",")}`;
}
