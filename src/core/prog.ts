/**
 * A lifecycle as a program of named steps. Each step returns the next step (`hop`), a wait
 * (`nap`: run this same step again after `ms`, or sooner when the program's alarm rings) or
 * `done`; the runner refuses any hop the program did not declare. A step that naps is run again
 * from its start, so it re-reads what it waits for: every step is safe to run twice.
 */
export type StepResult<S extends string> = { hop: S } | { nap: number } | { done: true };
export type Steps<S extends string> = Record<S, () => Promise<StepResult<S>>>;

export const hop = <S extends string>(step: S): StepResult<S> => ({ hop: step });
export const nap = <S extends string>(ms: number): StepResult<S> => ({ nap: Math.max(0, ms) });
export const done = <S extends string>(): StepResult<S> => ({ done: true });

/** The longest single timer: a longer nap is taken in pieces (the step runs again in between). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Wakes a napping program early: whoever changes what a step waits for (an exit, a cancel, a
 * watched key) rings it. A ring while no step naps is kept, so the next nap returns at once.
 */
export class Alarm {
  private rung = false;
  private wake: (() => void) | null = null;

  ring(): void {
    this.rung = true;
    this.wake?.();
  }

  /** Wait `ms`, or until rung; returns at once when rung since the last sleep. */
  async sleep(ms: number): Promise<void> {
    if (!this.rung && ms > 0)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.wake?.(), Math.min(ms, MAX_TIMER_MS));
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    this.rung = false;
  }
}

export interface RunOptions<S extends string> {
  onStep?: (step: S) => void;
  /** Rung to cut a nap short (absent: naps run their full length). */
  alarm?: Alarm;
}

export async function runSteps<S extends string>(
  steps: Steps<S>,
  declared: Record<S, readonly S[]>,
  start: S,
  opts: RunOptions<S> = {},
): Promise<S[]> {
  const trail: S[] = [];
  const alarm = opts.alarm ?? new Alarm();
  let current = start;
  let napping = false;
  for (;;) {
    if (!napping) {
      trail.push(current);
      opts.onStep?.(current);
    }
    const r = await steps[current]();
    if ("done" in r) return trail;
    if ("nap" in r) {
      napping = true;
      await alarm.sleep(r.nap);
      continue;
    }
    napping = false;
    if (!declared[current].includes(r.hop)) throw new Error(`undeclared step transition ${current} -> ${r.hop}`);
    current = r.hop;
  }
}
