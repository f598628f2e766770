/** Direct protocol calls for tests that need to send what no well-behaved client sends. */
export const TWIRP = "/twirp/github.actions.results.api.v1.CacheService";

export function rawClient(base: string, token: string) {
  const auth = { authorization: `Bearer ${token}` };
  const json = { ...auth, "content-type": "application/json" };
  return {
    reserve: (key: string, version: string, cacheSize?: number) =>
      fetch(`${base}/_apis/artifactcache/caches`, { method: "POST", headers: json, body: JSON.stringify({ key, version, cacheSize }) }),
    patch: (id: number | string, start: number, end: number, body: BodyInit | Uint8Array) =>
      fetch(`${base}/_apis/artifactcache/caches/${id}`, { method: "PATCH", headers: { ...auth, "content-type": "application/octet-stream", "content-range": `bytes ${start}-${end}/*` }, body: body as BodyInit }),
    commit: (id: number | string, size: number) => fetch(`${base}/_apis/artifactcache/caches/${id}`, { method: "POST", headers: json, body: JSON.stringify({ size }) }),
    lookup: (keys: string[], version: string) => fetch(`${base}/_apis/artifactcache/cache?keys=${encodeURIComponent(keys.join(","))}&version=${version}`, { headers: auth }),
    twirp: (method: string, body: unknown) => fetch(`${base}${TWIRP}/${method}`, { method: "POST", headers: json, body: JSON.stringify(body) }),
  };
}

/** v1: reserve, upload `data` in one chunk, commit; returns the cacheId. */
export async function saveV1(base: string, token: string, key: string, version: string, data: Uint8Array): Promise<number> {
  const c = rawClient(base, token);
  const r = await c.reserve(key, version, data.length);
  if (r.status !== 201) throw new Error(`reserve: ${r.status} ${await r.text()}`);
  const { cacheId } = (await r.json()) as { cacheId: number };
  const p = await c.patch(cacheId, 0, data.length - 1, data);
  if (p.status !== 204) throw new Error(`patch: ${p.status} ${await p.text()}`);
  const m = await c.commit(cacheId, data.length);
  if (m.status !== 204) throw new Error(`commit: ${m.status} ${await m.text()}`);
  return cacheId;
}
