/**
 * A lifecycle as a program of named steps. Each step returns the next step (`hop`) or `done`;
 * the runner refuses any hop the program did not declare.
 */
export type StepResult<S extends string> = { hop: S } | { done: true };
export type Steps<S extends string> = Record<S, () => Promise<StepResult<S>>>;

export const hop = <S extends string>(step: S): StepResult<S> => ({ hop: step });
export const done = <S extends string>(): StepResult<S> => ({ done: true });

export async function runSteps<S extends string>(
  steps: Steps<S>,
  declared: Record<S, readonly S[]>,
  start: S,
  onStep?: (step: S) => void,
): Promise<S[]> {
  const trail: S[] = [];
  let current = start;
  for (;;) {
    trail.push(current);
    onStep?.(current);
    const r = await steps[current]();
    if ("done" in r) return trail;
    if (!declared[current].includes(r.hop)) throw new Error(`undeclared step transition ${current} -> ${r.hop}`);
    current = r.hop;
  }
}
