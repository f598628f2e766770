/** Hash routes: #/jobs[?state=S], #/jobs/ID[?attempt=A&line=N], #/logs[?q=Q], #/agents, #/tokens, #/registry. */
import { useEffect, useState } from "react";
import { takeTokenFromUrl } from "./api.ts";

export type Route =
  | { page: "jobs"; state?: string }
  | { page: "job"; id: string; attempt?: number; line?: number }
  | { page: "logs"; q?: string }
  | { page: "agents" }
  | { page: "tokens" }
  | { page: "registry" };

export function parseRoute(hash: string): Route {
  const [path, query] = hash.replace(/^#/, "").split("?");
  const parts = (path ?? "").split("/").filter(Boolean);
  if (parts[0] === "agents") return { page: "agents" };
  if (parts[0] === "tokens") return { page: "tokens" };
  if (parts[0] === "registry") return { page: "registry" };
  const qs = new URLSearchParams(query ?? "");
  if (parts[0] === "logs") return { page: "logs", q: qs.get("q") ?? undefined };
  if (parts[0] === "jobs" && parts[1]) {
    const num = (k: string) => (/^\d{1,9}$/.test(qs.get(k) ?? "") ? Number(qs.get(k)) : undefined);
    return { page: "job", id: decodeURIComponent(parts[1]), attempt: num("attempt"), line: num("line") };
  }
  const state = qs.get("state") ?? undefined;
  return { page: "jobs", state };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => {
      takeTokenFromUrl(); // a dashboard link pasted into an open tab
      setRoute(parseRoute(location.hash));
    };
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

export const href = {
  jobs: (state?: string) => `#/jobs${state ? `?state=${state}` : ""}`,
  job: (id: string, attempt?: number, line?: number) => `#/jobs/${encodeURIComponent(id)}${line !== undefined ? `?attempt=${attempt ?? 1}&line=${line}` : ""}`,
  logs: (q?: string) => `#/logs${q ? `?q=${encodeURIComponent(q)}` : ""}`,
  agents: () => "#/agents",
  tokens: () => "#/tokens",
  registry: () => "#/registry",
};
