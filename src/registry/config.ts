/**
 * Settings of the registry service process, declared once (see src/core/config/settings.ts). Here:
 * its authentication settings (read by src/registry/auth/ through `registryAuthDeps`); the
 * distribution API's own settings (listen address, storage, limits) join them in `registrySettings`.
 */
import * as v from "valibot";
import { int, list, url, type SettingsSpec } from "../core/config/settings.ts";
import { isOrgId } from "../auth/principal.ts";

export const registryAuthSettings = {
  externalUrl: {
    env: "NIMBUS_REGISTRY_EXTERNAL_URL",
    doc: "The registry's origin as clients reach it (e.g. http://10.0.0.1:7075): the 401 challenge names <this>/v2/token as the token realm. Empty: the origin each request came in on.",
    schema: v.union([v.literal(""), url(["http", "https"])]) as v.GenericSchema<string, string>,
    default: "",
  },
  publicOrgs: {
    env: "NIMBUS_REGISTRY_PUBLIC_ORGS",
    doc: "Organisations (comma-separated) whose repositories anyone may pull without a token. Empty: none; every pull needs a token.",
    schema: v.pipe(
      list(),
      v.check((l) => l.every(isOrgId), "must be a comma-separated list of organisation ids (lower-case letters, digits and dashes)"),
    ) as v.GenericSchema<string, string[]>,
    default: "",
  },
  tokenTtlSeconds: {
    env: "NIMBUS_REGISTRY_TOKEN_TTL_SECONDS",
    doc: "Lifetime of the registry tokens the token endpoint issues (they never outlive the credential they were bought with).",
    schema: int(30, 3600),
    default: "300",
  },
} satisfies SettingsSpec;

export const registrySettings = {
  ...registryAuthSettings,
} satisfies SettingsSpec;
