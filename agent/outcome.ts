/** How a job's run on this agent ended (or was asked to end): the one type both step programs share. */
export type Outcome = { kind: "exit"; exitCode: number } | { kind: "timeout" } | { kind: "cancel" } | { kind: "lost" } | { kind: "error"; message: string };
