/**
 * `image:<ref>` jobs: an OCI (or Docker v2) image from a registry becomes an ext4 rootfs, cached
 * by the image's manifest digest. Pulled with the unmodified `skopeo`:
 *
 *   1. `skopeo inspect --raw docker://REF`: the manifest (an index picks linux/amd64); its digest is
 *      the cache key, so a cached image costs one manifest request and no download;
 *   2. on a miss, `skopeo copy docker://REPO@DIGEST dir:TMP` (pinned to that digest; skopeo verifies
 *      every blob), layers applied in order with whiteouts (unpack.ts), `mkfs.ext4 -d`;
 *   3. the ext4 is stored in the ImageStore under its own sha256 and re-verified before each boot
 *      (a tampered file is refused), and `oci.json` maps manifest digest -> ext4 digest.
 *
 * Only registry references (skopeo's docker transport) are accepted: a job must not name host paths.
 * Concurrent requests for one reference share one pull.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../src/core/errors.ts";
import { createLogger } from "../../src/core/log.ts";
import { ext4FromDir } from "./build.ts";
import type { ImageStore } from "./store.ts";
import { applyLayers } from "./unpack.ts";

const log = createLogger("oci-images");

export interface OciImagesOptions {
  /** Where the ext4 files go (content-addressed, digest-verified before boot). */
  store: ImageStore;
  skopeo?: string;
  /** Registries (host or host:port) reached over plain HTTP or without verifying TLS. */
  insecureRegistries?: string[];
  /** skopeo --authfile: credentials for private registries. */
  authFile?: string;
  /** Platform picked from a multi-platform index. Default linux/amd64. */
  platform?: { os: string; architecture: string };
}

export interface OciRootfs {
  path: string;
  manifestDigest: string;
  ext4Digest: string;
  /** True when no layer was downloaded (the digest was in the cache). */
  cached: boolean;
}

interface CacheEntry {
  ref: string;
  ext4Digest: string;
  builtAt: string;
}

const REF = /^([a-z0-9][a-z0-9._-]*(?::\d+)?\/)?[a-z0-9][a-z0-9._/-]*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
const INDEX_TYPES = ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

/** `host[:port]/repo[:tag][@digest]` -> the registry host (skopeo's default when the first part is not a host) and the repository. */
export function splitRef(ref: string): { registry?: string; repository: string } {
  const noDigest = ref.split("@")[0]!;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  const repository = colon > slash ? noDigest.slice(0, colon) : noDigest;
  const first = repository.split("/")[0]!;
  const registry = repository.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost") ? first : undefined;
  return { registry, repository };
}

async function run(argv: string[]): Promise<Uint8Array> {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).bytes(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) {
    const text = err.trim().slice(-400);
    const missing = /manifest unknown|not found|name unknown|404/i.test(text);
    throw new AppError(missing ? "not_found" : "unavailable", `${argv[0]} ${argv[1]} failed: ${text}`, { command: argv[1] });
  }
  return out;
}

function sha256(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

export class OciImages {
  private readonly pending = new Map<string, Promise<OciRootfs>>();

  constructor(private readonly opts: OciImagesOptions) {}

  private get dir(): string {
    return this.opts.store.dir;
  }

  private cache(): Record<string, CacheEntry> {
    const p = join(this.dir, "oci.json");
    return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as Record<string, CacheEntry>) : {};
  }

  private remember(manifestDigest: string, entry: CacheEntry): void {
    const p = join(this.dir, "oci.json");
    writeFileSync(`${p}.tmp`, JSON.stringify({ ...this.cache(), [manifestDigest]: entry }, null, 2) + "\n");
    renameSync(`${p}.tmp`, p);
  }

  private flags(ref: string, kind: "inspect" | "copy"): string[] {
    const out: string[] = [];
    const { registry } = splitRef(ref);
    if (registry && this.opts.insecureRegistries?.includes(registry)) out.push(kind === "copy" ? "--src-tls-verify=false" : "--tls-verify=false");
    if (this.opts.authFile) out.push(kind === "copy" ? `--src-authfile=${this.opts.authFile}` : `--authfile=${this.opts.authFile}`);
    return out;
  }

  /** The ext4 rootfs of `ref`, pulled and converted on a cache miss. */
  resolve(ref: string): Promise<OciRootfs> {
    if (!REF.test(ref)) return Promise.reject(new AppError("validation_failed", `image reference "${ref}" is not a registry reference`, { field: "image" }));
    let p = this.pending.get(ref);
    if (!p) {
      p = this.resolveOnce(ref).finally(() => this.pending.delete(ref));
      this.pending.set(ref, p);
    }
    return p;
  }

  /** The manifest digest `ref` names now (for an index: the digest of the platform's manifest). */
  async digestOf(ref: string): Promise<string> {
    const skopeo = this.opts.skopeo ?? "skopeo";
    const raw = await run([skopeo, "inspect", "--raw", ...this.flags(ref, "inspect"), `docker://${ref}`]);
    const doc = JSON.parse(new TextDecoder().decode(raw)) as { mediaType?: string; manifests?: { digest: string; platform?: { os: string; architecture: string } }[] };
    if (!INDEX_TYPES.includes(doc.mediaType ?? "") && !doc.manifests) return `sha256:${sha256(raw)}`;
    const want = this.opts.platform ?? { os: "linux", architecture: "amd64" };
    const m = doc.manifests?.find((x) => x.platform?.os === want.os && x.platform?.architecture === want.architecture);
    if (!m) throw new AppError("not_found", `image ${ref} has no ${want.os}/${want.architecture} variant`, { ref });
    return m.digest;
  }

  private async resolveOnce(ref: string): Promise<OciRootfs> {
    const manifestDigest = await this.digestOf(ref);
    const known = this.cache()[manifestDigest];
    if (known && existsSync(this.opts.store.pathOf(known.ext4Digest))) {
      return { path: await this.opts.store.verify(known.ext4Digest), manifestDigest, ext4Digest: known.ext4Digest, cached: true };
    }
    const t0 = performance.now();
    const work = join(this.dir, `oci-${manifestDigest.slice(7, 19)}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, "root"), { recursive: true });
    try {
      const pinned = `${splitRef(ref).repository}@${manifestDigest}`;
      await run([this.opts.skopeo ?? "skopeo", "copy", "--quiet", ...this.flags(ref, "copy"), `docker://${pinned}`, `dir:${join(work, "pulled")}`]);
      const manifestBytes = readFileSync(join(work, "pulled", "manifest.json"));
      if (`sha256:${sha256(manifestBytes)}` !== manifestDigest) throw new AppError("internal", `pulled manifest of ${ref} does not match ${manifestDigest}`);
      const manifest = JSON.parse(manifestBytes.toString("utf8")) as { layers?: { digest: string; mediaType: string }[] };
      const layers = (manifest.layers ?? []).map((l) => ({ path: join(work, "pulled", l.digest.replace(/^sha256:/, "")), mediaType: l.mediaType }));
      await applyLayers(join(work, "root"), layers);
      const { digest } = await ext4FromDir(join(work, "root"), work, this.opts.store);
      this.remember(manifestDigest, { ref, ext4Digest: digest, builtAt: new Date().toISOString() });
      log.info("image converted", { ref, manifestDigest, ext4Digest: digest, layers: layers.length, ms: Math.round(performance.now() - t0) });
      return { path: await this.opts.store.verify(digest), manifestDigest, ext4Digest: digest, cached: false };
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}
