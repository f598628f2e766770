/** The job's lifecycle as a waterfall: each state from when it was entered until the next. */
import { TERMINAL, type JobEvent } from "../api.ts";
import { clock, duration } from "../format.ts";
import { StateBadge } from "./StateBadge.tsx";

export function Timeline({ events, now }: { events: JobEvent[]; now: number }) {
  if (!events.length) return <p className="empty">No events yet.</p>;
  const start = events[0]!.at;
  const end = Math.max(now, events.at(-1)!.at);
  const span = Math.max(1, end - start);
  return (
    <ol className="timeline">
      {events.map((e, i) => {
        const until = events[i + 1]?.at ?? (TERMINAL.has(e.to) ? e.at : end);
        const left = ((e.at - start) / span) * 100;
        const width = Math.max(0.5, ((until - e.at) / span) * 100);
        return (
          <li key={`${e.at}-${i}`} data-to={e.to}>
            <span className="when">{clock(e.at)} · +{duration(e.at - start)}</span>
            <StateBadge state={e.to} />
            <span className="bar"><span style={{ marginLeft: `${left}%`, width: `${width}%` }} /></span>
            <span className="detail">
              attempt {e.attempt}
              {e.agentId ? ` · ${e.agentId}` : ""}
              {e.reason ? ` · ${e.reason}` : ""}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
