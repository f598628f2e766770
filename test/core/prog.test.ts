/** The step runner's nap: a wait is a step that yields; the alarm cuts it short. */
import { expect, test } from "bun:test";
import { Alarm, done, hop, nap, runSteps } from "../../src/core/prog.ts";

test("a step that naps runs again (the trail names it once), then hops on", async () => {
  let runs = 0;
  const trail = await runSteps<"wait" | "end">(
    { wait: async () => (++runs < 3 ? nap(1) : hop("end")), end: async () => done() },
    { wait: ["end"], end: [] },
    "wait",
  );
  expect(runs).toBe(3);
  expect(trail).toEqual(["wait", "end"]);
});

test("ringing the alarm wakes a nap of an hour; the step sees what changed", async () => {
  const alarm = new Alarm();
  let ready = false;
  let runs = 0;
  const program = runSteps<"wait">({ wait: async () => (runs++, ready ? done() : nap(3_600_000)) }, { wait: [] }, "wait", { alarm });
  await Bun.sleep(0);
  ready = true;
  alarm.ring();
  expect(await program).toEqual(["wait"]);
  expect(runs).toBe(2);
});

test("a ring while no step naps is kept: the next nap returns at once", async () => {
  const alarm = new Alarm();
  let runs = 0;
  const program = runSteps<"wait">(
    {
      wait: async () => {
        runs++;
        if (runs === 1) alarm.ring(); // rung before the step has even returned its nap
        return runs === 1 ? nap(3_600_000) : done();
      },
    },
    { wait: [] },
    "wait",
    { alarm },
  );
  expect(await program).toEqual(["wait"]);
  expect(runs).toBe(2);
});
