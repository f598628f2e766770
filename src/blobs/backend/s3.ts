/**
 * S3 store (@aws-sdk/client-s3). Uploads go through lib-storage's Upload: multipart in 16 MiB parts,
 * 4 in flight, so memory stays bounded whatever the object size; the SDK retries each request with
 * backoff, and short timeouts keep a dead backend from holding requests (the breaker does the rest).
 */
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { AppError } from "../../core/errors.ts";
import { checkFinalSize, countingStream } from "./limits.ts";
import { checkObjectName, type ObjectStore } from "./types.ts";

export interface S3StoreOptions {
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** SDK attempts per request (first try included). */
  maxAttempts?: number;
  partSize?: number;
}

export function s3Client(o: S3StoreOptions): S3Client {
  return new S3Client({
    region: o.region,
    endpoint: o.endpoint || undefined,
    forcePathStyle: o.forcePathStyle,
    credentials: o.accessKeyId ? { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey ?? "" } : undefined,
    maxAttempts: o.maxAttempts ?? 3,
    requestHandler: { connectionTimeout: 2000, requestTimeout: 60_000 },
  });
}

function isMissing(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err?.name === "NoSuchKey" || err?.name === "NotFound" || err?.$metadata?.httpStatusCode === 404;
}

export function s3Store(o: S3StoreOptions, client = s3Client(o)): ObjectStore {
  const key = (name: string) => o.prefix + checkObjectName(name);
  return {
    kind: "s3",
    async put(name, body, limits) {
      const counter = { bytes: 0 };
      const upload = new Upload({
        client,
        params: { Bucket: o.bucket, Key: key(name), Body: body.pipeThrough(countingStream(limits, counter)) },
        partSize: o.partSize ?? 16 * 1024 * 1024,
        queueSize: 4,
        leavePartsOnError: false,
      });
      await upload.done().catch((e) => {
        throw e instanceof AppError ? e : ((e as { cause?: unknown }).cause instanceof AppError ? (e as { cause: AppError }).cause : e);
      });
      try {
        checkFinalSize(counter.bytes, limits);
      } catch (e) {
        await this.delete([name]);
        throw e;
      }
      return counter.bytes;
    },
    async read(name, start, end) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: o.bucket, Key: key(name), Range: `bytes=${start}-${end}` }));
        return r.Body!.transformToWebStream() as ReadableStream<Uint8Array>;
      } catch (e) {
        if (isMissing(e)) throw new AppError("not_found", "the stored object is missing");
        throw e;
      }
    },
    async size(name) {
      return (await this.stat(name))?.size;
    },
    async stat(name) {
      try {
        const r = await client.send(new HeadObjectCommand({ Bucket: o.bucket, Key: key(name) }));
        return { size: r.ContentLength ?? 0, mtimeMs: r.LastModified?.getTime() ?? 0 };
      } catch (e) {
        if (isMissing(e)) return undefined;
        throw e;
      }
    },
    async delete(names) {
      for (let i = 0; i < names.length; i += 1000) {
        const Objects = names.slice(i, i + 1000).map((n) => ({ Key: key(n) }));
        await client.send(new DeleteObjectsCommand({ Bucket: o.bucket, Delete: { Objects, Quiet: true } }));
      }
    },
    async *list(prefix) {
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: o.prefix + prefix, ContinuationToken: token }));
        for (const obj of r.Contents ?? []) yield { name: obj.Key!.slice(o.prefix.length), size: obj.Size ?? 0, mtimeMs: obj.LastModified?.getTime() ?? 0 };
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    },
    async check() {
      await client.send(new HeadBucketCommand({ Bucket: o.bucket }));
    },
    async close() {
      client.destroy();
    },
  };
}
