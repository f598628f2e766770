/** Live agents: what they serve and how busy they are. */
import { api, type Agent } from "../api.ts";
import { ago } from "../format.ts";
import { usePoll } from "../poll.ts";
import { href } from "../router.ts";

export function AgentsPage() {
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
    </section>
  );
}
