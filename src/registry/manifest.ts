/**
 * Reading a manifest the client pushed: its media type, the blobs and manifests it names, its
 * subject and artifact type. Pure; the bytes themselves are stored exactly as sent.
 */
import { isDigest, type Digest } from "../blobs/digest.ts";
import { fail } from "./errors.ts";

export const MEDIA = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

const INDEXES = new Set<string>([MEDIA.ociIndex, MEDIA.dockerList]);
const IMAGES = new Set<string>([MEDIA.ociManifest, MEDIA.dockerManifest]);

export interface ParsedManifest {
  mediaType: string;
  /** Blobs (config and layers) that must be in the repository. */
  blobs: Digest[];
  /** Manifests (an index's entries) that must be in the repository. */
  manifests: Digest[];
  subject?: Digest;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface Descriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
}

function descriptor(d: unknown, where: string): Digest {
  const desc = d as Descriptor;
  if (!desc || typeof desc !== "object" || typeof desc.digest !== "string" || !isDigest(desc.digest))
    throw fail.manifestInvalid(`${where}: a descriptor with a sha256 digest is required`);
  if (typeof desc.size !== "number" || !Number.isSafeInteger(desc.size) || desc.size < 0) throw fail.manifestInvalid(`${where}: size must be a non-negative integer`);
  return desc.digest;
}

function list(v: unknown, where: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw fail.manifestInvalid(`${where} must be an array`);
  return v;
}

/** The Content-Type without parameters, lower-cased. */
export function bareType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

export function parseManifest(bytes: Uint8Array, contentType: string | null): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw fail.manifestInvalid("manifest is not valid JSON");
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw fail.manifestInvalid("manifest is not a JSON object");
  if (doc.schemaVersion !== 2) throw fail.manifestInvalid("schemaVersion must be 2");
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  const header = bareType(contentType);
  const mediaType = header || declared || "";
  if (declared && header && declared !== header) throw fail.manifestInvalid(`Content-Type ${header} does not match the manifest's mediaType ${declared}`);
  const subject = doc.subject === undefined ? undefined : descriptor(doc.subject, "subject");
  const annotations = doc.annotations && typeof doc.annotations === "object" ? (doc.annotations as Record<string, string>) : undefined;
  const artifactType = typeof doc.artifactType === "string" ? doc.artifactType : undefined;
  if (INDEXES.has(mediaType)) {
    const manifests = list(doc.manifests, "manifests").map((m, i) => descriptor(m, `manifests[${i}]`));
    return { mediaType, blobs: [], manifests, subject, artifactType, annotations };
  }
  if (IMAGES.has(mediaType)) {
    const config = descriptor(doc.config, "config");
    const layers = list(doc.layers, "layers").map((l, i) => descriptor(l, `layers[${i}]`));
    const configType = (doc.config as Descriptor).mediaType;
    return { mediaType, blobs: [config, ...layers], manifests: [], subject, annotations, artifactType: artifactType ?? (typeof configType === "string" ? configType : undefined) };
  }
  throw fail.manifestInvalid(mediaType ? `unsupported manifest media type ${mediaType}` : "manifest media type missing (Content-Type or mediaType)");
}
