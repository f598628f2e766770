import { describe, expect, test } from "bun:test";
import { completedSteps } from "../../src/jobs/lifecycle-metrics.ts";
import type { JobRecord, JobState } from "../../src/jobs/record.ts";

const T0 = 1_800_000_000_000;
function rec(state: JobState, times: Partial<Record<JobState, number>>, extra: Partial<JobRecord> = {}): JobRecord {
  return { id: "j-1", source: "direct", org: "acme", command: ["true"], env: {}, secrets: [], labels: [], requirements: {} as JobRecord["requirements"], pool: "x64.sandbox.2c4g",
    timeoutSeconds: 60, state, attempt: 1, maxAttempts: 3, createdAt: T0, updatedAt: T0, times, ...extra } as JobRecord;
}
const steps = (next: JobRecord | null, prev?: JobRecord) => completedSteps(next, prev).map((o) => [o.step, o.seconds, o.outcome ?? ""]);

describe("job lifecycle steps from record changes", () => {
  test("each step once, as the record moves: queue at the lease, startup at running, execution and end at the end", () => {
    const queued = rec("queued", { queued: T0 });
    const leased = rec("leased", { queued: T0, leased: T0 + 250 });
    const running = rec("running", { queued: T0, leased: T0 + 250, running: T0 + 1250 });
    const done = rec("succeeded", { queued: T0, leased: T0 + 250, running: T0 + 1250, succeeded: T0 + 11_250 });
    expect(steps(queued)).toEqual([]);
    expect(steps(leased, queued)).toEqual([["queue", 0.25, ""]]);
    expect(steps(running, leased)).toEqual([["startup", 1, ""]]);
    expect(steps(done, running)).toEqual([["execution", 10, "succeeded"], ["end", 11.25, "succeeded"]]);
    // A later write of the same state (a record touched again) counts nothing twice.
    expect(steps({ ...done, updatedAt: T0 + 20_000 }, done)).toEqual([]);
    expect(completedSteps(done, running)[0]).toMatchObject({ pool: "x64.sandbox.2c4g", source: "direct" });
  });

  test("a watcher that missed revisions still counts every step the record shows", () => {
    const done = rec("failed", { queued: T0, leased: T0 + 100, running: T0 + 600, failed: T0 + 1600 });
    expect(steps(done, rec("queued", { queued: T0 }))).toEqual([["queue", 0.1, ""], ["startup", 0.5, ""], ["execution", 1, "failed"], ["end", 1.6, "failed"]]);
  });

  test("a retry: the new attempt's steps only, never the earlier attempt's stamps", () => {
    const first = rec("running", { queued: T0, leased: T0 + 100, running: T0 + 200 });
    const requeued = rec("queued", { queued: T0 + 5000, leased: T0 + 100, running: T0 + 200 }, { attempt: 2 });
    expect(steps(requeued, first)).toEqual([]);
    const leased2 = rec("leased", { queued: T0 + 5000, leased: T0 + 5300, running: T0 + 200 }, { attempt: 2 });
    expect(steps(leased2, requeued)).toEqual([["queue", 0.3, ""]]);
  });

  test("a job cancelled in the queue ends without a run; a deleted record says nothing", () => {
    const cancelled = rec("cancelled", { queued: T0, cancelled: T0 + 2000 });
    expect(steps(cancelled, rec("queued", { queued: T0 }))).toEqual([["end", 2, "cancelled"]]);
    expect(steps(null, cancelled)).toEqual([]);
  });
});
