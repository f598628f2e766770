/**
 * An OCI image layout made offline: layers are tars of generated files (gzipped), a config, a
 * manifest, index.json and oci-layout. What skopeo copies from (`oci:DIR:TAG`).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { seeded, sha256 } from "./service.ts";

export interface Layout {
  dir: string;
  tag: string;
  layers: string[];
  manifestDigest: string;
}

function tarOf(files: Record<string, Uint8Array>): Uint8Array {
  const root = mkdtempSync(join(tmpdir(), "nimbus-layer-"));
  try {
    for (const [name, bytes] of Object.entries(files)) {
      mkdirSync(join(root, name, ".."), { recursive: true });
      writeFileSync(join(root, name), bytes);
    }
    const r = Bun.spawnSync(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", root, "-cf", "-", "."]);
    if (r.exitCode !== 0) throw new Error(`tar failed: ${r.stderr}`);
    return new Uint8Array(r.stdout);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function putBlob(dir: string, bytes: Uint8Array): { digest: string; size: number } {
  const digest = sha256(bytes);
  writeFileSync(join(dir, "blobs", "sha256", digest.slice(7)), bytes);
  return { digest, size: bytes.byteLength };
}

/** A layout of `layerSizes.length` layers, each one file of that many seeded bytes. */
export function makeLayout(seed: string, layerSizes: number[], tag = "v1"): Layout {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-oci-"));
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  const tars = layerSizes.map((n, i) => tarOf({ [`data/${seed}-${i}.bin`]: seeded(`${seed}-${i}`, n) }));
  const layers = tars.map((t) => ({ tar: t, gz: gzipSync(t, { level: 1 }) }));
  const layerDescs = layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...putBlob(dir, new Uint8Array(l.gz)) }));
  const config = {
    architecture: "amd64", os: "linux", config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(l.tar)) },
  };
  const configDesc = { mediaType: "application/vnd.oci.image.config.v1+json", ...putBlob(dir, new TextEncoder().encode(JSON.stringify(config))) };
  const manifest = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: configDesc, layers: layerDescs }));
  const m = putBlob(dir, manifest);
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(join(dir, "index.json"), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...m, annotations: { "org.opencontainers.image.ref.name": tag } }],
  }));
  return { dir, tag, layers: layerDescs.map((l) => l.digest), manifestDigest: m.digest };
}

export function blobOf(dir: string, digest: string): Buffer {
  return readFileSync(join(dir, "blobs", "sha256", digest.slice(7)));
}
