/** Helpers of the registry operations tests: JSON calls to the admin API, and the data dir as one comparable value. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { TestRegistry } from "./service.ts";

export async function admin(reg: { url: string }, token: string | null, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const headers: Record<string, string> = { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...init.headers };
  const res = await fetch(`${reg.url}${path}`, { method, headers, body: init.body });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, headers: res.headers };
}

/** Every file under the registry's repos/ and blobs/ (metadata contents, blob sizes): what a refused call must leave alone. */
export async function snapshot(reg: Pick<TestRegistry, "dir">): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out[relative(reg.dir, p)] = p.includes(`${join(reg.dir, "repos")}`) ? readFileSync(p, "utf8") : String(statSync(p).size);
    }
  };
  for (const d of ["repos", "blobs"]) walk(join(reg.dir, d));
  return out;
}
