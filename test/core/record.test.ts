import { expect, test } from "bun:test";
import { assertTransition, canTransition, STATES, TERMINAL } from "../../src/jobs/record.ts";
import { runSteps, hop, done } from "../../src/core/prog.ts";

test("terminal states have no way out; queued cannot skip the lease", () => {
  for (const s of TERMINAL) for (const t of STATES) expect(canTransition(s, t)).toBe(false);
  expect(canTransition("queued", "running")).toBe(false);
  expect(canTransition("queued", "leased")).toBe(true);
  expect(canTransition("running", "queued")).toBe(true); // a retry
  expect(() => assertTransition("succeeded", "running")).toThrow("cannot go from succeeded to running");
});

test("the step runner follows declared hops and refuses undeclared ones", async () => {
  const trail = await runSteps<"a" | "b" | "c">({ a: async () => hop("b"), b: async () => hop("c"), c: async () => done() }, { a: ["b"], b: ["c"], c: [] }, "a");
  expect(trail).toEqual(["a", "b", "c"]);
  await expect(runSteps<"a" | "b">({ a: async () => hop("b"), b: async () => done() }, { a: [], b: [] }, "a")).rejects.toThrow("undeclared step transition a -> b");
});
