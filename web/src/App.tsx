/** Layout: header with the queue at a glance, navigation, the page; a token form when needed. */
import { useState } from "react";
import { api, inOrg, orgChoice, registryApi, token, type Queue, type RegistryUsage, type Whoami } from "./api.ts";
import { bytes } from "./format.ts";
import { OrgSwitch } from "./components/OrgSwitch.tsx";
import { AgentsPage } from "./pages/Agents.tsx";
import { JobPage } from "./pages/Job.tsx";
import { JobsPage } from "./pages/Jobs.tsx";
import { TokensPage } from "./pages/Tokens.tsx";
import { RegistryPage } from "./pages/Registry.tsx";
import { LogsPage } from "./pages/Logs.tsx";
import { usePoll } from "./poll.ts";
import { href, useRoute } from "./router.ts";

function Login({ why, onToken }: { why?: string; onToken: () => void }) {
  const [value, setValue] = useState("");
  return (
    <form
      className="login"
      onSubmit={(e) => {
        e.preventDefault();
        token.set(value);
        onToken();
      }}
    >
      <h2>Sign in</h2>
      <p>Paste a token (<code>nimbus token mint --role member --org ORG --name you</code>; an operator's sees every organisation), or open the dashboard link <code>nimbus up</code> prints.</p>
      {why && <p className="error">{why}</p>}
      <input type="password" value={value} onChange={(e) => setValue(e.target.value)} placeholder="token" aria-label="token" autoFocus />
      <button type="submit" disabled={!value.trim()}>Open the dashboard</button>
    </form>
  );
}

function QueueSummary({ q }: { q?: Queue }) {
  if (!q) return null;
  const n = (s: string) => q.jobs[s] ?? 0;
  const running = n("leased") + n("booting") + n("runner_registered") + n("running");
  return (
    <div className="summary" data-testid="summary">
      <a href={href.jobs("queued")}><b>{n("queued")}</b> queued</a>
      <a href={href.jobs("running")}><b>{running}</b> running</a>
      <a href={href.jobs("failed")}><b>{n("failed") + n("timed_out")}</b> failed</a>
      <a href={href.jobs("succeeded")}><b>{n("succeeded")}</b> succeeded</a>
    </div>
  );
}

/** The registry at a glance (repositories and bytes of the org in view); nothing while it does not answer. */
function RegistryGlance({ u }: { u?: RegistryUsage }) {
  if (!u) return null;
  const repos = u.usage.reduce((n, x) => n + x.repositories, 0);
  const over = u.usage.some((x) => x.overQuota);
  return (
    <a href={href.registry()} data-testid="registry-summary" className={over ? "error" : ""}>
      <b>{repos}</b> {repos === 1 ? "repository" : "repositories"}, <b>{bytes(u.totalBytes)}</b>{over ? " (over quota)" : ""}
    </a>
  );
}

export function App() {
  const route = useRoute();
  const [, setSignedIn] = useState(0);
  const me = usePoll(() => api<Whoami>("/api/whoami"), 60_000, [token.get()]);
  // An operator's chosen org; anyone else's view is their token's org (the server decides, not this).
  const [chosen, setChosen] = useState(orgChoice.get);
  const org = me.data?.role === "operator" ? chosen : "";
  const pickOrg = (o: string) => (orgChoice.set(o), setChosen(o));
  const queue = usePoll(() => api<Queue>(inOrg("/api/queue", org)), 3000, [token.get(), org]);
  const registry = usePoll(() => registryApi.usage(org), 15_000, [token.get(), org]);
  const unauthorized = !token.get() || queue.status === 401 || queue.status === 403 || me.status === 401 || me.status === 403;
  if (unauthorized)
    return (
      <main className="narrow">
        <h1>Nimbus</h1>
        <Login why={token.get() ? `The token was refused: ${queue.error}` : undefined} onToken={() => (setSignedIn((n) => n + 1), queue.reload(), me.reload())} />
      </main>
    );
  return (
    <>
      <header className="top">
        <h1><a href={href.jobs()}>Nimbus</a></h1>
        <nav>
          <a href={href.jobs()} className={route.page === "jobs" || route.page === "job" ? "on" : ""}>Jobs</a>
          <a href={href.logs()} className={route.page === "logs" ? "on" : ""}>Logs</a>
          <a href={href.agents()} className={route.page === "agents" ? "on" : ""}>Agents</a>
          <a href={href.tokens()} className={route.page === "tokens" ? "on" : ""}>Tokens</a>
          <a href={href.registry()} className={route.page === "registry" ? "on" : ""}>Registry</a>
        </nav>
        {me.data && <OrgSwitch me={me.data} org={org} onOrg={pickOrg} />}
        <QueueSummary q={queue.data} />
        <RegistryGlance u={registry.data} />
        <button className="link" onClick={() => (token.clear(), setSignedIn((n) => n + 1))}>Sign out</button>
      </header>
      <main>
        {route.page === "jobs" && <JobsPage state={route.state} org={org} allOrgs={me.data?.role === "operator" && !org} />}
        {route.page === "job" && <JobPage id={route.id} focus={route.line !== undefined ? { attempt: route.attempt ?? 1, n: route.line } : undefined} />}
        {route.page === "logs" && <LogsPage key={route.q ?? ""} org={org} q={route.q} />}
        {route.page === "agents" && <AgentsPage queue={queue.data} />}
        {route.page === "tokens" && <TokensPage />}
        {route.page === "registry" && <RegistryPage org={org} />}
      </main>
    </>
  );
}


