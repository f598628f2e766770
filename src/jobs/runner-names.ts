/** Runner names: derived from the Nimbus job id and attempt (the sandbox/VM has the same name). No dependencies: the dashboard uses it too. */
export const RUNNER_PREFIX = "nimbus-";
export const runnerName = (jobId: string, attempt: number) => `${RUNNER_PREFIX}${jobId}-${attempt}`;
export function parseRunnerName(name: string | null | undefined): { jobId: string; attempt: number } | null {
  const m = /^nimbus-(.+)-(\d+)$/.exec(name ?? "");
  return m ? { jobId: m[1]!, attempt: Number(m[2]) } : null;
}

