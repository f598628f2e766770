/** shellQuote must print what a user would type: a real shell reads it back into the same argv. */
import { expect, test } from "bun:test";
import { quoteArg, shellQuote } from "../../src/core/shell.ts";

/** The argv bash reads from `printf '%s\0' QUOTED` (NUL-separated, so newlines survive). */
function readBack(quoted: string): string[] {
  const p = Bun.spawnSync(["bash", "-c", `printf '%s\\0' ${quoted}`], { stdout: "pipe", stderr: "pipe" });
  expect(p.stderr.toString()).toBe("");
  return p.stdout.toString().split("\0").slice(0, -1);
}

const HOSTILE: string[][] = [
  ["sh", "-c", "echo hi; exit 3"],
  ["echo", "it's", `"double"`, "'single'", "'"],
  ["printf", "line one\nline two", "tab\there", "cr\rhere", "bell\x07", "del\x7f"],
  ["echo", "", "", "x"],
  ["echo", "héllo wörld", "日本語", "emoji 🚀", "ümlaut"],
  ["echo", "$HOME", "${PATH}", "$(id -un)", "`id -un`", "\\$x", "a\\b"],
  ["echo", "*", "?", "[a]", "~", "#comment", "a|b", "a&b", "a>b", "!x", "{a,b}"],
  ["echo", "mixed 'quote' and \n newline and $ and `tick`"],
];

test("a real shell reads the quoted line back into exactly the original argv", () => {
  for (const argv of HOSTILE) expect(readBack(shellQuote(argv))).toEqual(argv);
});

test("plain words stay bare; the issue's example reads as typed", () => {
  expect(shellQuote(["sh", "-c", "echo hi; exit 3"])).toBe("sh -c 'echo hi; exit 3'");
  expect(shellQuote(["make", "-j4", "CC=gcc", "src/main.c", "user@host:path"])).toBe("make -j4 CC=gcc src/main.c user@host:path");
  expect(quoteArg("")).toBe("''");
  expect(quoteArg("it's")).toBe(`'it'\\''s'`);
});

test("control characters are escaped, so a command is always one line", () => {
  const q = shellQuote(["printf", "a\nb", "c\td"]);
  expect(q).toBe("printf $'a\\nb' $'c\\td'");
  expect(q).not.toContain("\n");
});
