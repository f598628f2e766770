/**
 * What the log service derives from a line's text at ingest: its level (from the workflow-command
 * markers GitHub's runner and toolkits print: `##[error]`, `::warning file=…::`) and the step it
 * belongs to (the runner's `##[group]` headers; an attempt's lines arrive in order, so the last
 * header seen names the step of the lines after it).
 */
const LEVEL = /^(?:\S+\s)?(?:##\[(error|warning|notice|debug)\]|::(error|warning|notice|debug)(?:\s[^:]*)?::)/i;

export function levelOf(text: string, stream: string): string {
  const m = LEVEL.exec(text);
  if (m) return (m[1] ?? m[2]!).toLowerCase();
  return stream === "sys" && /^nimbus: .*(fail|error|refused|timed out)/i.test(text) ? "error" : "info";
}

const GROUP = /^(?:\S+\s)?##\[group\](.*)$/;

/** The step a `##[group]` header line starts, or null. */
export function stepStarted(text: string): string | null {
  const m = GROUP.exec(text);
  return m ? m[1]!.trim().slice(0, 200) : null;
}
