import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { renderReadme } from "../../scripts/config-docs.ts";

test("the README's configuration table matches the settings the services declare", () => {
  const readme = readFileSync(resolve(import.meta.dir, "../../README.md"), "utf8");
  // On a mismatch: bun run scripts/config-docs.ts
  expect(renderReadme(readme)).toBe(readme);
});
