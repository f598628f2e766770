/** Hash routes: #/jobs[?state=S], #/jobs/ID, #/agents, #/tokens, #/registry. */
import { useEffect, useState } from "react";
import { takeTokenFromUrl } from "./api.ts";

export type Route = { page: "jobs"; state?: string } | { page: "job"; id: string } | { page: "agents" } | { page: "tokens" } | { page: "registry" };

export function parseRoute(hash: string): Route {
  const [path, query] = hash.replace(/^#/, "").split("?");
  const parts = (path ?? "").split("/").filter(Boolean);
  if (parts[0] === "agents") return { page: "agents" };
  if (parts[0] === "tokens") return { page: "tokens" };
  if (parts[0] === "registry") return { page: "registry" };
  if (parts[0] === "jobs" && parts[1]) return { page: "job", id: decodeURIComponent(parts[1]) };
  const state = new URLSearchParams(query ?? "").get("state") ?? undefined;
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
  job: (id: string) => `#/jobs/${encodeURIComponent(id)}`,
  agents: () => "#/agents",
  tokens: () => "#/tokens",
  registry: () => "#/registry",
};
