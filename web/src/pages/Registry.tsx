/** The registry: usage per organisation against its quota, and the repositories with their tags, size and last push. */
import { registryApi } from "../api.ts";
import { ago, bytes } from "../format.ts";
import { usePoll } from "../poll.ts";

export function RegistryPage({ org }: { org: string }) {
  const usage = usePoll(() => registryApi.usage(org), 10_000, [org]);
  const repos = usePoll(() => registryApi.repositories(org), 10_000, [org]);
  const error = usage.error ?? repos.error;
  return (
    <section data-testid="registry">
      {error && <p className="error">The registry did not answer: {error}</p>}
      {usage.data && (
        <table className="usage">
          <thead><tr><th>organisation</th><th>repositories</th><th>blobs</th><th>size</th><th>quota</th></tr></thead>
          <tbody>
            {usage.data.usage.map((u) => (
              <tr key={u.org} data-org={u.org}>
                <td className="mono">{u.org}</td>
                <td>{u.repositories}</td>
                <td>{u.blobs}</td>
                <td>{bytes(u.bytes)}</td>
                <td className={u.overQuota ? "error" : ""}>{u.quotaBytes === null ? "unknown" : u.quotaBytes === 0 ? "none" : `${bytes(u.quotaBytes)}${u.overQuota ? " — over" : ""}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {repos.data && repos.data.length === 0 && <p className="empty">No repositories yet. Push one: <code>skopeo copy --dest-creds ci:$NIMBUS_TOKEN … docker://REGISTRY/ORG/NAME:TAG</code></p>}
      {repos.data && repos.data.length > 0 && (
        <table className="repos">
          <thead><tr><th>repository</th><th>tags</th><th>manifests</th><th>size</th><th>last push</th></tr></thead>
          <tbody>
            {repos.data.map((r) => (
              <tr key={r.name} data-repo={r.name}>
                <td className="mono">{r.name}</td>
                <td>{r.tags}</td>
                <td>{r.manifests}</td>
                <td>{bytes(r.bytes)}</td>
                <td>{r.lastPush ? ago(Date.parse(r.lastPush)) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
