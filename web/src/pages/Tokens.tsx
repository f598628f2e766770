/** The token ledger: list, mint (the token is shown once), revoke. For operators and org-admins. */
import { useState } from "react";
import { tokensApi, type TokenEntry } from "../api.ts";
import { usePoll } from "../poll.ts";

const ROLES = ["member", "viewer", "org-admin", "operator", "agent"];

const stateOf = (t: TokenEntry) => (t.revoked ? "revoked" : t.used ? "used" : Date.parse(t.expiresAt) <= Date.now() ? "expired" : "active");

function MintForm({ onMinted }: { onMinted: () => void }) {
  const [form, setForm] = useState({ role: "member", name: "", org: "", ttl: "30d", service: false });
  const [minted, setMinted] = useState<{ token: string; id: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string; checked?: boolean } }) => setForm({ ...form, [k]: k === "service" ? Boolean(e.target.checked) : e.target.value });
  const orgRole = form.role !== "operator" && form.role !== "agent";
  return (
    <form
      className="mint"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        try {
          const r = await tokensApi.mint({ role: form.role, name: form.name.trim(), ttl: form.ttl.trim(), ...(orgRole && form.org.trim() ? { org: form.org.trim() } : {}), ...(orgRole && form.service ? { service: true } : {}) });
          setMinted({ token: r.token, id: r.entry.id });
          setForm({ ...form, name: "" });
          onMinted();
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <h3>Mint a token</h3>
      <label>role <select aria-label="role" value={form.role} onChange={set("role")}>{ROLES.map((r) => <option key={r}>{r}</option>)}</select></label>
      <label>name <input aria-label="name" value={form.name} onChange={set("name")} placeholder={form.role === "agent" ? "agent id" : "who it is for"} /></label>
      {orgRole && <label>organisation <input aria-label="organisation" value={form.org} onChange={set("org")} placeholder="yours if empty" /></label>}
      <label>expires in <input aria-label="ttl" value={form.ttl} onChange={set("ttl")} size={6} /></label>
      {orgRole && <label><input type="checkbox" aria-label="service account" checked={form.service} onChange={set("service")} /> service account</label>}
      <button type="submit" disabled={!form.name.trim()}>Mint</button>
      {error && <p className="error" data-testid="mint-error">{error}</p>}
      {minted && (
        <div className="minted" data-testid="minted">
          <p>Token <span className="mono">{minted.id}</span>: copy it now, it is not shown again.</p>
          <input readOnly className="mono" aria-label="new token" value={minted.token} onFocus={(e) => e.target.select()} />
          <button type="button" className="link" onClick={() => setMinted(null)}>Done</button>
        </div>
      )}
    </form>
  );
}

export function TokensPage() {
  const { data, error, reload } = usePoll(() => tokensApi.list(), 5000, []);
  const [revokeError, setRevokeError] = useState<string | null>(null);
  return (
    <section>
      <MintForm onMinted={reload} />
      {(error || revokeError) && <p className="error">{revokeError ?? error}</p>}
      {data && data.length === 0 && <p className="empty">No tokens in the ledger.</p>}
      {data && data.length > 0 && (
        <table className="tokens">
          <thead><tr><th>id</th><th>role</th><th>organisation</th><th>name</th><th>state</th><th>expires</th><th>minted by</th><th></th></tr></thead>
          <tbody>
            {data.map((t) => (
              <tr key={t.id} data-token={t.id} data-state={stateOf(t)}>
                <td className="mono">{t.id}</td>
                <td>{t.role}</td>
                <td>{t.org ?? "—"}</td>
                <td>{t.sub}{t.service ? " (service)" : ""}</td>
                <td className="state">{stateOf(t)}</td>
                <td>{t.expiresAt.slice(0, 16).replace("T", " ")}</td>
                <td>{t.mintedBy.sub}</td>
                <td>
                  {stateOf(t) === "active" && (
                    <button
                      onClick={async () => {
                        if (!confirm(`Revoke ${t.sub}'s token ${t.id}? Every service refuses it within seconds.`)) return;
                        setRevokeError(null);
                        await tokensApi.revoke(t.id).then(reload, (e: Error) => setRevokeError(e.message));
                      }}
                    >Revoke</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
