/** Raw HTTP against the registry, the way the conformance suite drives it. */
import { sha256 } from "./service.ts";

export interface Reply {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  json(): any;
}

export function client(base: string, token?: string) {
  const call = async (method: string, path: string, init: { body?: BodyInit | Uint8Array | null; headers?: Record<string, string> } = {}): Promise<Reply> => {
    const url = path.startsWith("http") ? path : `${base}${path}`;
    const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers };
    const res = await fetch(url, { method, body: (init.body ?? null) as BodyInit | null, headers });
    const bytes = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, bytes, json: () => JSON.parse(new TextDecoder().decode(bytes)) };
  };
  return {
    call,
    /** POST then one PUT carrying the whole blob: the conformance suite's "monolithic" push. */
    async pushBlob(repo: string, bytes: Uint8Array): Promise<string> {
      const post = await call("POST", `/v2/${repo}/blobs/uploads/`);
      if (post.status !== 202) throw new Error(`POST ${post.status}: ${new TextDecoder().decode(post.bytes)}`);
      const loc = post.headers.get("location")!;
      const sep = loc.includes("?") ? "&" : "?";
      const put = await call("PUT", `${loc}${sep}digest=${sha256(bytes)}`, { body: bytes, headers: { "content-type": "application/octet-stream" } });
      if (put.status !== 201) throw new Error(`PUT ${put.status}: ${new TextDecoder().decode(put.bytes)}`);
      return sha256(bytes);
    },
    async putManifest(repo: string, ref: string, manifest: unknown, mediaType = "application/vnd.oci.image.manifest.v1+json"): Promise<Reply> {
      return call("PUT", `/v2/${repo}/manifests/${ref}`, { body: typeof manifest === "string" ? manifest : JSON.stringify(manifest), headers: { "content-type": mediaType } });
    },
  };
}

export type Client = ReturnType<typeof client>;

/** An OCI image manifest over a config and layers (bytes already pushed). */
export function imageManifest(config: Uint8Array, layers: Uint8Array[], extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.byteLength },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(l), size: l.byteLength })),
    ...extra,
  };
}
