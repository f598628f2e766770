/** Layout: header with the queue at a glance, navigation, the page; a token form when needed. */
import { useState } from "react";
import { api, token, type Queue } from "./api.ts";
import { AgentsPage } from "./pages/Agents.tsx";
import { JobPage } from "./pages/Job.tsx";
import { JobsPage } from "./pages/Jobs.tsx";
import { TokensPage } from "./pages/Tokens.tsx";
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
      <p>Paste an admin token: <code>nimbus token mint --role operator --name you</code>, or open the dashboard link <code>nimbus up</code> prints.</p>
      {why && <p className="error">{why}</p>}
      <input type="password" value={value} onChange={(e) => setValue(e.target.value)} placeholder="admin token" aria-label="admin token" autoFocus />
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

export function App() {
  const route = useRoute();
  const [, setSignedIn] = useState(0);
  const queue = usePoll(() => api<Queue>("/api/queue"), 3000, [token.get()]);
  const unauthorized = !token.get() || queue.status === 401 || queue.status === 403;
  if (unauthorized)
    return (
      <main className="narrow">
        <h1>Nimbus</h1>
        <Login why={token.get() ? `The token was refused: ${queue.error}` : undefined} onToken={() => (setSignedIn((n) => n + 1), queue.reload())} />
      </main>
    );
  return (
    <>
      <header className="top">
        <h1><a href={href.jobs()}>Nimbus</a></h1>
        <nav>
          <a href={href.jobs()} className={route.page === "jobs" || route.page === "job" ? "on" : ""}>Jobs</a>
          <a href={href.agents()} className={route.page === "agents" ? "on" : ""}>Agents</a>
          <a href={href.tokens()} className={route.page === "tokens" ? "on" : ""}>Tokens</a>
        </nav>
        <QueueSummary q={queue.data} />
        <button className="link" onClick={() => (token.clear(), setSignedIn((n) => n + 1))}>Sign out</button>
      </header>
      <main>
        {route.page === "jobs" && <JobsPage state={route.state} />}
        {route.page === "job" && <JobPage id={route.id} />}
        {route.page === "agents" && <AgentsPage queue={queue.data} />}
        {route.page === "tokens" && <TokensPage />}
      </main>
    </>
  );
}


