/** Registry auth, pure parts: scope parsing against hostile input, and grants per role × org. */
import { describe, expect, test } from "bun:test";
import { isAppError } from "../../src/core/errors.ts";
import type { Principal, Role } from "../../src/auth/principal.ts";
import { MAX_SCOPES, parseScope, parseScopes } from "../../src/registry/auth/scope.ts";
import { allowedActions, grant } from "../../src/registry/auth/grants.ts";

function refused(f: () => unknown): { code: string; oci: unknown } {
  try {
    f();
  } catch (e) {
    if (isAppError(e)) return { code: e.code, oci: e.details?.ociCode };
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("scope parsing", () => {
  test("a repository scope with several actions; * is every action; repeats merge", () => {
    expect(parseScope("repository:acme/app:pull,push")).toEqual({ type: "repository", name: "acme/app", actions: ["pull", "push"] });
    expect(parseScope("repository:acme/app:*").actions).toEqual(["pull", "push", "delete"]);
    expect(parseScopes(["repository:acme/a:pull", "repository:acme/a:push repository:acme/b:pull"])).toEqual([
      { type: "repository", name: "acme/a", actions: ["pull", "push"] },
      { type: "repository", name: "acme/b", actions: ["pull"] },
    ]);
  });

  test("malformed scopes are bad requests with a spec code", () => {
    for (const s of ["", "repository", "repository:acme/app", ":acme:pull", "repo sitory:acme:pull", "repository:acme/app:pull;push", "repository:acme/app:pull,,push", "repository:acme/app:PULL"])
      expect(refused(() => parseScope(s))).toEqual({ code: "bad_request", oci: "UNSUPPORTED" });
  });

  test("names off the grammar, traversal included, are NAME_INVALID", () => {
    for (const n of ["../etc/passwd", "acme/../../x", "acme//app", "/acme", "acme/", "Acme/app", "acme/app%2F..", "acme/.hidden", "a".repeat(256), "acme\u0000/x"])
      expect(refused(() => parseScope(`repository:${n}:pull`))).toEqual({ code: "bad_request", oci: "NAME_INVALID" });
  });

  test("huge scope lists and oversized scopes are refused, not parsed", () => {
    const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:acme/r${i}:pull`);
    expect(refused(() => parseScopes(many)).code).toBe("bad_request");
    expect(refused(() => parseScopes([many.join(" ")])).code).toBe("bad_request");
    expect(refused(() => parseScope(`repository:acme/app:${"pull,".repeat(200)}pull`)).code).toBe("bad_request");
    expect(parseScopes(many.slice(0, MAX_SCOPES))).toHaveLength(MAX_SCOPES);
  });

  test("another type and unknown actions parse, and are never granted", () => {
    const scopes = parseScopes(["registry:catalog:*", "repository:acme/app:pull,frobnicate"]);
    expect(scopes[0]).toEqual({ type: "registry", name: "catalog", actions: ["pull", "push", "delete"] });
    const operator: Principal = { tokenId: "t", sub: "root", role: "operator", org: null };
    expect(grant({ publicOrgs: new Set() }, operator, scopes)).toEqual([{ type: "repository", name: "acme/app", actions: ["pull"] }]);
  });
});

describe("grants per role × org", () => {
  const policy = { publicOrgs: new Set(["open"]) };
  const who = (role: Role, org: string | null): Principal => ({ tokenId: "t", sub: "x", role, org });
  const cases: [Role, string | null, string, string[]][] = [
    ["operator", null, "acme/app", ["pull", "push", "delete"]],
    ["operator", null, "other/app", ["pull", "push", "delete"]],
    ["org-admin", "acme", "acme/app", ["pull", "push", "delete"]],
    ["org-admin", "acme", "other/app", []],
    ["member", "acme", "acme/deep/app", ["pull", "push"]],
    ["member", "acme", "other/app", []],
    ["member", "acme", "acme-evil/app", []],
    ["viewer", "acme", "acme/app", ["pull"]],
    ["viewer", "acme", "other/app", []],
    ["agent", null, "acme/app", []],
    ["member", "acme", "open/app", ["pull"]],
    ["agent", null, "open/app", ["pull"]],
    ["org-admin", "open", "open/app", ["pull", "push", "delete"]],
  ];
  for (const [role, org, repo, want] of cases)
    test(`${role}${org ? ` of ${org}` : ""} on ${repo}: ${want.join(",") || "nothing"}`, () => {
      expect(allowedActions(policy, who(role, org), repo)).toEqual(want as any);
      const granted = grant(policy, who(role, org), parseScopes([`repository:${repo}:pull,push,delete`]));
      expect(granted).toEqual(want.length ? [{ type: "repository", name: repo, actions: want as any }] : []);
    });

  test("anonymous: pull in public orgs only", () => {
    expect(allowedActions(policy, null, "open/app")).toEqual(["pull"]);
    expect(allowedActions(policy, null, "acme/app")).toEqual([]);
    expect(grant(policy, null, parseScopes(["repository:open/app:pull,push", "repository:acme/app:pull"]))).toEqual([{ type: "repository", name: "open/app", actions: ["pull"] }]);
  });
});

describe("settings", () => {
  test("public orgs and the external URL are validated once, naming the key", async () => {
    const { loadConfig } = await import("../../src/core/config/load.ts");
    const { registryAuthSettings } = await import("../../src/registry/config.ts");
    expect(loadConfig(registryAuthSettings, { NIMBUS_REGISTRY_PUBLIC_ORGS: "open, docs" }).publicOrgs).toEqual(["open", "docs"]);
    expect(loadConfig(registryAuthSettings, {}).tokenTtlSeconds).toBe(300);
    expect(() => loadConfig(registryAuthSettings, { NIMBUS_REGISTRY_PUBLIC_ORGS: "open,Bad Org" })).toThrow(/NIMBUS_REGISTRY_PUBLIC_ORGS/);
    expect(() => loadConfig(registryAuthSettings, { NIMBUS_REGISTRY_EXTERNAL_URL: "ftp://x" })).toThrow(/NIMBUS_REGISTRY_EXTERNAL_URL/);
    expect(() => loadConfig(registryAuthSettings, { NIMBUS_REGISTRY_TOKEN_TTL_SECONDS: "5" })).toThrow(/NIMBUS_REGISTRY_TOKEN_TTL_SECONDS/);
  });
});
