import { expect, test } from "bun:test";
import { jobTiming } from "../../src/jobs/timing.ts";

const t0 = 1_700_000_000_000;
const job = (state: string, times: Record<string, number> = {}, updatedAt = t0) => ({ state, createdAt: t0, updatedAt, times }) as Parameters<typeof jobTiming>[0];

test("a queued job reads as waiting until it starts, never as running or took", () => {
  expect(jobTiming(job("queued", { queued: t0 }), t0 + 284_000)).toBe("waiting 4m44s");
  // A retry is back in the queue: waiting again.
  expect(jobTiming(job("queued", { queued: t0 + 5000, leased: t0 + 1000 }), t0 + 6000)).toBe("waiting 6.0s");
});

test("running while an agent has it; took once it is over; waited when it never started", () => {
  expect(jobTiming(job("running", { leased: t0 + 100, running: t0 + 500 }), t0 + 12_000)).toBe("running for 12.0s");
  expect(jobTiming(job("succeeded", { leased: t0 + 100, succeeded: t0 + 3100 }, t0 + 3100), t0 + 999_999)).toBe("took 3.1s");
  expect(jobTiming(job("cancelled", { cancelled: t0 + 120_000 }, t0 + 120_000), t0 + 999_999)).toBe("waited 2m0s");
});
