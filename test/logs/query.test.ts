import { describe, expect, test } from "bun:test";
import { parseQuery, fieldsOf, MAX_TERMS } from "../../src/logs/query/parse.ts";
import { matches } from "../../src/logs/query/match.ts";
import { regexProblem } from "../../src/logs/query/regex.ts";
import { compileSqlite } from "../../src/logs/query/sqlite.ts";
import type { LineFacts } from "../../src/logs/query/ast.ts";

const facts = (over: Partial<LineFacts> = {}): LineFacts => ({
  org: "acme", repo: "acme/app", workflow: "CI", job: "build", jobId: "j-1", step: "Run tests", branch: "main",
  level: "info", agent: "agent-1", status: "failed", text: "npm ERR! code ELIFECYCLE in test", ...over,
});
const m = (q: string, f = facts()) => matches(parseQuery(q), f);
function error(q: string): { message: string; position?: number } {
  try {
    parseQuery(q);
  } catch (e) {
    const err = e as { code: string; message: string; details?: { position?: number } };
    expect(err.code).toBe("validation_failed");
    return { message: err.message, position: err.details?.position };
  }
  throw new Error(`parsed: ${q}`);
}

describe("parsing", () => {
  test("words side by side are AND; OR binds looser; parentheses; - and NOT exclude", () => {
    expect(parseQuery("npm error")).toEqual({ kind: "and", children: [{ kind: "text", value: "npm" }, { kind: "text", value: "error" }] });
    expect(parseQuery("a b OR c")).toEqual({ kind: "or", children: [{ kind: "and", children: [{ kind: "text", value: "a" }, { kind: "text", value: "b" }] }, { kind: "text", value: "c" }] });
    expect(parseQuery("a AND (b OR c)")).toEqual({ kind: "and", children: [{ kind: "text", value: "a" }, { kind: "or", children: [{ kind: "text", value: "b" }, { kind: "text", value: "c" }] }] });
    expect(parseQuery("-flaky")).toEqual({ kind: "not", child: { kind: "text", value: "flaky" } });
    expect(parseQuery("NOT level:error")).toEqual({ kind: "not", child: { kind: "field", field: "level", value: { kind: "exact", value: "error" } } });
  });

  test("phrases, regexes, fields with words, phrases, globs and patterns", () => {
    expect(parseQuery('"code ELIFECYCLE"')).toEqual({ kind: "phrase", value: "code ELIFECYCLE" });
    expect(parseQuery("/ERR!\\s+code/")).toEqual({ kind: "regex", source: "ERR!\\s+code", flags: "" });
    expect(parseQuery("/(?i)err/")).toEqual({ kind: "regex", source: "err", flags: "i" });
    expect(parseQuery('step:"Run tests"')).toEqual({ kind: "field", field: "step", value: { kind: "exact", value: "Run tests" } });
    expect(parseQuery("repo:acme/*")).toEqual({ kind: "field", field: "repo", value: { kind: "glob", value: "acme/*" } });
    expect(parseQuery("branch:/^release-/")).toEqual({ kind: "field", field: "branch", value: { kind: "regex", source: "^release-", flags: "" } });
    expect(parseQuery('"a \\"quoted\\" word"')).toEqual({ kind: "phrase", value: 'a "quoted" word' });
    expect(parseQuery("https://example.test/x")).toEqual({ kind: "text", value: "https://example.test/x" });
    expect([...fieldsOf(parseQuery("org:a (repo:b OR -level:error)"))].sort()).toEqual(["level", "org", "repo"]);
  });

  test("errors name the position and what was expected", () => {
    expect(error("")).toMatchObject({ position: 1, message: expect.stringContaining("an empty query") });
    expect(error('npm "unclosed')).toMatchObject({ position: 5, message: expect.stringContaining('expected a closing "') });
    expect(error("(a OR b")).toMatchObject({ position: 8, message: expect.stringContaining('expected ")" to close the "(" at 1') });
    expect(error("a)")).toMatchObject({ position: 2, message: expect.stringContaining('a ")" with no "("') });
    expect(error("stauts:failed")).toMatchObject({ position: 1, message: expect.stringContaining('unknown field "stauts": expected one of org, repo') });
    expect(error("level:")).toMatchObject({ position: 7, message: expect.stringContaining("expected a value for level:") });
    expect(error("a OR")).toMatchObject({ position: 5, message: expect.stringContaining("found the end of the query") });
    expect(error("()")).toMatchObject({ position: 2, message: expect.stringContaining("empty parentheses") });
    expect(error("/a(?=b)/")).toMatchObject({ position: 3, message: expect.stringContaining("lookahead") });
    expect(error("x /(a+)+$/")).toMatchObject({ position: 4, message: expect.stringContaining("repeated group") });
    expect(error(Array.from({ length: MAX_TERMS + 1 }, (_, i) => `w${i}`).join(" ")).message).toContain(`more than ${MAX_TERMS} terms`);
    expect(error("(".repeat(40) + "a" + ")".repeat(40)).message).toContain("nested deeper");
    expect(error("x".repeat(2000)).message).toContain("longer than 1024");
  });
});

describe("the RE2 subset", () => {
  test("allows what RE2 and JavaScript read alike, refuses the rest", () => {
    for (const ok of ["^\\d{3}-[a-z]+$", "(?i)timeout", "a|b|c", "x{2,5}", "[+*]+", "(ab)+", "(a|b)*c"]) expect({ ok, p: regexProblem(ok) }).toEqual({ ok, p: null });
    for (const bad of ["a(?!b)", "(?<=a)b", "(a)\\1", "(?<name>a)", "(?m)a", "a++", "(a*)*", "(x+y?){2,}", "\\p{L}", "[", ""]) expect({ bad, p: regexProblem(bad) }).not.toEqual({ bad, p: null });
  });
});

describe("matching a line", () => {
  test("text and phrases are case-insensitive substrings; regexes as written", () => {
    expect(m("elifecycle")).toBe(true);
    expect(m('"ERR! code"')).toBe(true);
    expect(m('"code ERR!"')).toBe(false);
    expect(m("/ELIFE[A-Z]+/")).toBe(true);
    expect(m("/elife/")).toBe(false);
    expect(m("/(?i)elife/")).toBe(true);
  });

  test("fields: exact (case-insensitive), globs, patterns; job is its name or id; boolean structure", () => {
    expect(m("repo:acme/app level:info status:failed")).toBe(true);
    expect(m("repo:ACME/APP")).toBe(true);
    expect(m("repo:acme")).toBe(false);
    expect(m("repo:acme/*")).toBe(true);
    expect(m("repo:*/app AND branch:/^ma/")).toBe(true);
    expect(m("job:build")).toBe(true);
    expect(m("job:j-1")).toBe(true);
    expect(m("job:deploy OR step:\"Run tests\"")).toBe(true);
    expect(m("npm -ELIFECYCLE")).toBe(false);
    expect(m("-(level:error OR level:warning)")).toBe(true);
    expect(m("agent:agent-2")).toBe(false);
  });
});

describe("compiled to SQLite", () => {
  test("values are bound parameters, never SQL text; LIKE wildcards in a term are escaped", () => {
    const c = compileSqlite(parseQuery(`"100%_done" repo:a_b/* "'); drop table lines; --" /x'y/`));
    expect(c.sql).not.toContain("drop table");
    expect(c.sql).not.toContain("100");
    expect(c.sql).not.toContain("x'y");
    expect(c.params).toEqual(["%100\\%\\_done%", "a\\_b/%", "%'); drop table lines; --%", "x'y", ""]);
  });
});
