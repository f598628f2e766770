/** Where the job's time went: waiting, starting its sandbox/VM (and runner), running, in all. */
import type { LatencyBreakdown } from "../../../src/github/latency.ts";
import { duration } from "../format.ts";

const SPANS: [keyof LatencyBreakdown["spans"], string][] = [["queueMs", "waited"], ["startupMs", "started in"], ["runMs", "ran"], ["totalMs", "total"]];

export function Latency({ l }: { l?: LatencyBreakdown }) {
  if (!l) return null;
  const shown = SPANS.filter(([k]) => l.spans[k] !== undefined);
  if (!shown.length) return null;
  return (
    <div className="latency" data-testid="latency">
      {shown.map(([k, label]) => (
        <span key={k} data-span={k}><span className="muted">{label}</span> <b>{duration(l.spans[k]!)}</b></span>
      ))}
    </div>
  );
}
