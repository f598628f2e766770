/**
 * The agent's run map (agent/agent.ts) is keyed by job and attempt: GitHub may give a job's
 * runner to another job, and the job's next attempt can then start on the same agent while the
 * first runner still works (agent/github/steps.ts `detached`). The first run ending must not drop the
 * second from the map, or the cancel watch would no longer reach it.
 */
import { expect, test } from "bun:test";
import { RunMap } from "../../agent/agent.ts";

class FakeRun {
  ended: string | null = null;
  constructor(
    readonly jobId: string,
    readonly attempt: number,
  ) {}
  end(o: { kind: string }): void {
    this.ended = o.kind;
  }
}

test("a next attempt on the same agent survives the end of the detached one, and a cancel reaches it", () => {
  const runs = new RunMap<FakeRun>();
  const detached = new FakeRun("gh-1042", 1); // its runner serves GitHub job 1077
  const next = new FakeRun("gh-1042", 2);
  const other = new FakeRun("gh-1077", 1);
  runs.add(detached);
  runs.add(other);
  runs.add(next);
  expect(runs.jobIds().sort()).toEqual(["gh-1042", "gh-1077"]);
  expect(runs.size).toBe(3);

  runs.remove(detached); // the borrowed runner finished
  expect(runs.ofJob("gh-1042")).toEqual([next]);

  for (const r of runs.ofJob("gh-1042")) r.end({ kind: "cancel" }); // what the cancel watch does
  expect(next.ended).toBe("cancel");
  expect(other.ended).toBeNull();

  runs.remove(new FakeRun("gh-1042", 2)); // a stale handle of the same key removes nothing
  expect(runs.ofJob("gh-1042")).toEqual([next]);
  runs.remove(next);
  runs.remove(other);
  expect(runs.size).toBe(0);
  expect(runs.jobIds()).toEqual([]);
});
