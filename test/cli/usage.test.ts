/** What a user sees when they mistype: our words, the nearest guess, one usage line, exit 2; group help exits 0. */
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { COMMANDS } from "../../src/cli/commands/index.ts";
import { nearest } from "../../src/cli/suggest.ts";
import { STATES } from "../../src/jobs/record.ts";

const BIN = resolve(import.meta.dir, "../../bin/nimbus");
const nimbus = (...args: string[]) => {
  const p = Bun.spawnSync([BIN, ...args], { env: { ...process.env, NIMBUS_DATA_DIR: "/nonexistent-nimbus" }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
};

test("nearest: a typo or a prefix finds its word; nonsense finds nothing", () => {
  expect(nearest("--detatch", ["--detach", "--data-dir", "--label"])).toBe("--detach");
  expect(nearest("stauts", ["up", "status", "run"])).toBe("status");
  expect(nearest("lst", ["list", "show", "cancel"])).toBe("list");
  expect(nearest("conf", ["config", "cache", "jobs"])).toBe("config");
  expect(nearest("frobnicate", ["up", "status", "run", "jobs"])).toBeUndefined();
});

test("an unknown option: the nearest one, in our words, then one usage line; exit 2", () => {
  const r = nimbus("run", "--detatch", "--", "true");
  expect(r.code).toBe(2);
  expect(r.out).toBe("");
  const lines = r.err.trimEnd().split("\n");
  expect(lines[0]).toBe("nimbus run: unknown option --detatch — did you mean --detach?");
  expect(lines[1]).toStartWith("Usage: nimbus run ");
  expect(lines).toHaveLength(2); // not the whole help
  expect(r.err).not.toContain("To specify a positional argument"); // the parser's own text
  expect(nimbus("jobs", "list", "--bogus")).toMatchObject({ code: 2, err: expect.stringMatching(/^nimbus jobs list: unknown option --bogus\nUsage: nimbus jobs list /) });
});

test("a missing value, a value on a switch, a missing or extra argument: named, exit 2", () => {
  expect(nimbus("jobs", "list", "--state")).toMatchObject({ code: 2, err: expect.stringMatching(new RegExp("^" + RegExp.escape("nimbus jobs list: --state needs a value\nUsage: nimbus jobs list"))) });
  expect(nimbus("jobs", "list", "--json=yes")).toMatchObject({ code: 2, err: expect.stringMatching(new RegExp("^" + RegExp.escape("nimbus jobs list: --json is a switch and takes no value\n"))) });
  expect(nimbus("jobs", "show")).toMatchObject({ code: 2, err: expect.stringMatching(new RegExp("^" + RegExp.escape("nimbus jobs show: missing JOB_ID\nUsage: nimbus jobs show JOB_ID"))) });
  expect(nimbus("status", "extra")).toMatchObject({ code: 2, err: expect.stringMatching(new RegExp("^" + RegExp.escape('nimbus status: unexpected argument "extra"'))) });
});

test("an unknown command or subcommand: the nearest one and a usage line; exit 2", () => {
  expect(nimbus("stauts")).toMatchObject({ code: 2, err: 'nimbus: unknown command "stauts" — did you mean "status"?\nUsage: nimbus COMMAND [options]  (nimbus --help lists the commands)\n' });
  expect(nimbus("jobs", "lst")).toMatchObject({ code: 2, err: 'nimbus: unknown command "jobs lst" — did you mean "jobs list"?\nUsage: nimbus jobs COMMAND [options]  (nimbus jobs --help lists them)\n' });
  expect(nimbus("frobnicate").err).toStartWith('nimbus: unknown command "frobnicate"\n');
  expect(nimbus("--verison")).toMatchObject({ code: 2, err: expect.stringMatching(/^nimbus: unknown option --verison — did you mean --version\?\nUsage: nimbus COMMAND/) });
  expect(nimbus("--help")).toMatchObject({ code: 0, out: expect.stringContaining("Exit status: 0 done, 1 failed") });
});

test("every command group's --help (and the bare group) lists its commands, one line each; exit 0", () => {
  const groups = [...new Set(COMMANDS.filter((c) => c.name.includes(" ")).map((c) => c.name.split(" ")[0]!))];
  expect(groups).toEqual(expect.arrayContaining(["jobs", "labels", "config", "cache", "images", "token", "agents"]));
  for (const g of groups) {
    const members = COMMANDS.filter((c) => c.name.startsWith(`${g} `));
    for (const r of [nimbus(g, "--help"), nimbus(g)]) {
      expect(r).toMatchObject({ code: 0, err: "" });
      for (const c of members) expect(r.out).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
      expect(r.out).not.toContain("choose one of");
    }
  }
});

test("jobs list --help names every state a job can be in", () => {
  const r = nimbus("jobs", "list", "--help");
  expect(r.code).toBe(0);
  for (const s of STATES) expect(r.out).toContain(s);
});
