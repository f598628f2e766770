/**
 * A job's logs: read in pages from the control plane (which relays the log service), followed while
 * the job runs, searchable (server-side search over every line of every attempt).
 */
import { useEffect, useRef, useState } from "react";
import { api, type LogLine } from "../api.ts";

interface Page {
  lines: LogLine[];
  ended: boolean;
  total: number;
}

function Line({ l, mark, focused }: { l: LogLine; mark?: string; focused?: boolean }) {
  let text: React.ReactNode = l.text;
  if (mark) {
    const i = l.text.toLowerCase().indexOf(mark.toLowerCase());
    if (i >= 0) text = <>{l.text.slice(0, i)}<mark>{l.text.slice(i, i + mark.length)}</mark>{l.text.slice(i + mark.length)}</>;
  }
  return (
    <div className={`line ${l.stream}${focused ? " focus" : ""}`} data-n={l.n} data-attempt={l.attempt} ref={focused ? (el) => el?.scrollIntoView({ block: "center" }) : undefined}>
      <span className="n">{l.attempt > 1 ? `${l.attempt}·` : ""}{l.n + 1}</span>
      <span className="t">{text}</span>
    </div>
  );
}

/** `focus`: a line to show and mark (a log search result opened here). */
export function LogView({ jobId, live, focus }: { jobId: string; live: boolean; focus?: { attempt: number; n: number } }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [ended, setEnded] = useState(false);
  const [error, setError] = useState<string>();
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<LogLine[] | null>(null);
  const offset = useRef(0);

  useEffect(() => {
    offset.current = 0;
    setLines([]);
    setEnded(false);
    let stop = false;
    const pull = async () => {
      while (!stop) {
        try {
          const page = await api<Page>(`/api/jobs/${encodeURIComponent(jobId)}/logs?offset=${offset.current}&limit=2000`);
          if (page.lines.length) {
            offset.current += page.lines.length;
            setLines((old) => [...old, ...page.lines]);
            continue; // more may be waiting
          }
          setEnded(page.ended);
          setError(undefined);
          if (page.ended && !live) return; // the job is over and every line is here
        } catch (e) {
          setError((e as Error).message);
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    void pull();
    return () => {
      stop = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jobId, live]);

  useEffect(() => {
    if (!query.trim()) return setHits(null);
    const t = setTimeout(() => {
      api<{ lines: LogLine[] }>(`/api/jobs/${encodeURIComponent(jobId)}/logs/search?q=${encodeURIComponent(query.trim())}&limit=1000`).then(
        (r) => setHits(r.lines),
        (e: Error) => setError(e.message),
      );
    }, 250);
    return () => clearTimeout(t);
  }, [query, jobId]);

  const shown = hits ?? lines;
  return (
    <div className="logs">
      <div className="logbar">
        <input type="search" placeholder="Search this job's logs" value={query} onChange={(e) => setQuery(e.target.value)} aria-label="search logs" />
        <span className="muted">
          {hits ? `${hits.length} matching line${hits.length === 1 ? "" : "s"}` : `${lines.length} line${lines.length === 1 ? "" : "s"}${live && !ended ? " · following" : ""}`}
        </span>
      </div>
      {error && <p className="error">{error}</p>}
      <div className="loglines" role="log">
        {shown.length === 0 ? <p className="empty">{hits ? "No line matches." : "No output yet."}</p> : shown.map((l) => <Line key={`${l.attempt}-${l.n}`} l={l} mark={hits ? query.trim() : undefined} focused={!hits && focus?.attempt === l.attempt && focus.n === l.n} />)}
      </div>
    </div>
  );
}
