import { expect, test } from "bun:test";
import { parseRunnerName, runnerName } from "../../src/jobs/runner-names.ts";
import { borrowedRunner } from "../../src/cli/commands/logs.ts";

test("runner names round-trip through the job id and attempt", () => {
  expect(runnerName("gh-1000", 3)).toBe("nimbus-gh-1000-3");
  expect(parseRunnerName("nimbus-gh-1000-3")).toEqual({ jobId: "gh-1000", attempt: 3 });
  expect(parseRunnerName("someone-elses-runner")).toBeNull();
  expect(parseRunnerName(undefined)).toBeNull();
});

test("a GitHub job that ran on another job's runner points at that job's logs; its own runner does not", () => {
  const github = (runnerName?: string) => ({ ranOn: runnerName ? { runnerName } : undefined }) as never;
  expect(borrowedRunner({ id: "gh-2000", github: github("nimbus-gh-1000-2") })).toEqual({ runnerName: "nimbus-gh-1000-2", jobId: "gh-1000", attempt: 2 });
  expect(borrowedRunner({ id: "gh-2000", github: github("nimbus-gh-2000-1") })).toBeNull();
  expect(borrowedRunner({ id: "gh-2000", github: github("a-human-runner") })).toBeNull();
  expect(borrowedRunner({ id: "gh-2000", github: github() })).toBeNull();
  expect(borrowedRunner({ id: "j-1", github: undefined })).toBeNull();
});
