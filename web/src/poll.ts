/**
 * Load something now and, while `live`, every `ms` while the page shows it (a finished job's page
 * stops asking); errors are kept, not thrown.
 */
import { useEffect, useState } from "react";

export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[], live = true): { data?: T; error?: string; status?: number; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<number>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const run = () =>
      load().then(
        (d) => live && (setData(d), setError(undefined), setStatus(undefined)),
        (e: Error & { status?: number }) => live && (setError(e.message), setStatus(e.status)),
      );
    void run();
    const t = live ? setInterval(run, ms) : undefined;
    return () => {
      live = false;
      clearInterval(t);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick, live]);
  return { data, error, status, reload: () => setTick((n) => n + 1) };
}
