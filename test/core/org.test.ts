/** Where a job's organisation comes from: GitHub logins mapped to org ids, and the submission rule. */
import { describe, expect, test } from "bun:test";
import { isOrgId } from "../../src/auth/principal.ts";
import { DEFAULT_ORG, orgOf, orgOfLogin, submissionOrg } from "../../src/jobs/org.ts";
import { isAppError } from "../../src/core/errors.ts";

describe("orgOfLogin", () => {
  test("a GitHub login is its org id, lower-cased", () => {
    expect(orgOfLogin("Octo-Org")).toBe("octo-org");
    expect(orgOfLogin("acme")).toBe("acme");
    expect(orgOfLogin("A1-b2-C3")).toBe("a1-b2-c3");
  });

  test("a login that is no org id is mapped deterministically to a valid one no real login can be", () => {
    const odd = ["dependabot[bot]", "Some_Odd.Login", "x".repeat(5000), "-leading", "trailing-", "ünïcödé", "a..b", "--", ""];
    const mapped = odd.map(orgOfLogin);
    for (const m of mapped) {
      expect(isOrgId(m)).toBe(true);
      expect(m).toContain("--"); // GitHub logins never hold two dashes in a row
    }
    expect(mapped).toEqual(odd.map(orgOfLogin)); // the same login, the same org, every time
    expect(new Set(mapped).size).toBe(odd.length);
    expect(orgOfLogin("Some_Odd.Login")).toMatch(/^some-odd-login--[0-9a-f]{16}$/);
    expect(orgOfLogin("x".repeat(5000)).length).toBeLessThanOrEqual(64);
    expect(orgOfLogin("A_B")).not.toBe(orgOfLogin("a_b"));
  });
});

describe("submissionOrg", () => {
  test("members submit to their own org, naming another is forbidden; operators choose, default 'default'", () => {
    expect(submissionOrg({ role: "member", org: "acme" }, undefined)).toBe("acme");
    expect(submissionOrg({ role: "member", org: "acme" }, "acme")).toBe("acme");
    const e = (() => {
      try {
        submissionOrg({ role: "member", org: "acme" }, "globex");
      } catch (x) {
        return x;
      }
    })();
    expect(isAppError(e, "forbidden")).toBe(true);
    expect(submissionOrg({ role: "operator", org: null }, undefined)).toBe(DEFAULT_ORG);
    expect(submissionOrg({ role: "operator", org: null }, "globex")).toBe("globex");
  });

  test("a record written before jobs had an org reads as the default org", () => {
    expect(orgOf({} as { org: string })).toBe("default");
    expect(orgOf({ org: "acme" })).toBe("acme");
  });
});
