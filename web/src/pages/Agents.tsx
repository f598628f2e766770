/** Live agents: what they serve and how busy they are. */
import { api, type Agent, type Queue } from "../api.ts";
import { ago } from "../format.ts";
import { usePoll } from "../poll.ts";
import { href } from "../router.ts";

/** Waiting jobs per pool, and whether any live agent serves the pool (a job there waits for one). */
function PoolQueue({ agents, data }: { agents: Agent[]; data?: Queue }) {
  const served = new Set(agents.flatMap((a) => a.pools));
  const pools = Object.entries(data?.pools ?? {}).filter(([p, n]) => n > 0 || served.has(p));
  if (!pools.length) return null;
  return (
    <>
      <h3>Queue by pool</h3>
      <table className="pools">
        <thead><tr><th>pool</th><th>waiting or in flight</th><th>served by</th></tr></thead>
        <tbody>
          {pools.sort(([a], [b]) => a.localeCompare(b)).map(([pool, n]) => {
            const by = agents.filter((a) => a.pools.includes(pool)).length;
            return (
              <tr key={pool} data-pool={pool}>
                <td className="mono">{pool}</td>
                <td>{n}</td>
                <td className={by ? "" : "error"}>{by ? `${by} agent${by === 1 ? "" : "s"}` : "no agent: jobs here wait"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

/** `queue`: the header's poll of /api/queue, shared rather than asked for twice. */
export function AgentsPage({ queue }: { queue?: Queue }) {
  const { data, error } = usePoll(() => api<{ agents: Agent[] }>("/api/agents"), 3000, []);
  return (
    <section>
      {error && <p className="error">{error}</p>}
      {data && data.agents.length === 0 && <p className="empty">No agents are connected. Start one with <code>nimbus up</code> or <code>bun run agent/main.ts</code>.</p>}
      {data && data.agents.length > 0 && (
        <table className="agents">
          <thead>
            <tr><th>agent</th><th>host</th><th>drivers</th><th>pools</th><th>busy</th><th>heartbeat</th></tr>
          </thead>
          <tbody>
            {data.agents.map((a) => (
              <tr key={a.id} data-agent={a.id}>
                <td className="mono">{a.id}{a.draining ? " (draining)" : ""}</td>
                <td>{a.hostname}</td>
                <td>{a.drivers.join(", ")}</td>
                <td className="mono small">{a.pools.join(" ")}</td>
                <td>
                  {a.running.length}/{a.slots}
                  {a.running.map((id) => <a key={id} className="chip" href={href.job(id)}>{id}</a>)}
                </td>
                <td>{ago(a.heartbeatAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && <PoolQueue agents={data.agents} data={queue} />}
    </section>
  );
}
