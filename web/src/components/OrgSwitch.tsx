/**
 * The header's organisation: an operator picks one (orgs that have jobs, or typed) or every org;
 * anyone else sees the org their token belongs to. The API filters either way; this only asks.
 */
import { useState } from "react";
import { api, type Whoami } from "../api.ts";
import { usePoll } from "../poll.ts";

export function OrgSwitch({ me, org, onOrg }: { me: Whoami; org: string; onOrg: (org: string) => void }) {
  const orgs = usePoll(() => api<{ orgs: string[] }>("/api/orgs"), 10_000, [me.role], me.role === "operator");
  const [typed, setTyped] = useState("");
  if (me.role !== "operator") return <span className="org" data-testid="org">{me.org}</span>;
  const known = orgs.data?.orgs ?? [];
  const options = org && !known.includes(org) ? [...known, org].sort() : known;
  return (
    <span className="org" data-testid="org">
      <select aria-label="organisation" value={org} onChange={(e) => onOrg(e.target.value)}>
        <option value="">all organisations</option>
        {options.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (typed.trim()) onOrg(typed.trim().toLowerCase());
          setTyped("");
        }}
      >
        <input aria-label="another organisation" placeholder="org id" value={typed} onChange={(e) => setTyped(e.target.value)} size={10} />
      </form>
    </span>
  );
}
