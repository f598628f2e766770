/**
 * The signed blob URLs, Azure Blob style: Put Blob (`x-ms-blob-type: BlockBlob`), Put Block
 * (`comp=block&blockid=`), Put Block List (`comp=blocklist`, assembled in list order), and GET/HEAD
 * of committed entries with Range, Content-Length and Accept-Ranges. Errors are Azure's XML shape.
 */
import { Elysia } from "elysia";
import { randomUUID } from "node:crypto";
import { AppError, isAppError } from "../../core/errors.ts";
import { openDownload } from "../downloads.ts";
import { PEER_HEADER } from "../shared/peers.ts";
import { checkBlockId, parseId } from "../keys.ts";
import { commitBlockList, writeBlob } from "../uploads.ts";
import { contentLength, readText, requestBody, type HttpDeps } from "./context.ts";

const AZURE_CODE: Record<string, string> = {
  bad_request: "InvalidInput", validation_failed: "InvalidInput", forbidden: "AuthenticationFailed", not_found: "BlobNotFound",
  conflict: "BlobAlreadyExists", payload_too_large: "RequestBodyTooLarge", unavailable: "ServerBusy",
};

function azureHeaders(): Record<string, string> {
  return { "x-ms-request-id": randomUUID(), "x-ms-version": "2025-11-05", date: new Date().toUTCString() };
}

function blobError(e: unknown): Response {
  const status = isAppError(e) ? e.status : 500;
  const code = isAppError(e) ? (AZURE_CODE[e.code] ?? "InternalError") : "InternalError";
  const message = isAppError(e) ? e.message : "internal error";
  const extra: Record<string, string> = status === 416 && isAppError(e) ? { "content-range": `bytes */${e.details?.size}` } : {};
  const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message.replace(/[<&>]/g, "")}</Message></Error>`;
  return new Response(xml, { status, headers: { ...azureHeaders(), ...extra, "content-type": "application/xml", "x-ms-error-code": code } });
}

/** Block ids from a Put Block List body, in order (Latest, Committed and Uncommitted alike). */
export function parseBlockList(xml: string): string[] {
  if (!/<BlockList>/.test(xml)) throw new AppError("bad_request", "InvalidXmlDocument: expected a <BlockList>");
  return [...xml.matchAll(/<(Latest|Committed|Uncommitted)>([^<]*)<\/\1>/g)].map((m) => checkBlockId(m[2]!.trim()));
}

async function put(d: HttpDeps, request: Request, id: number, url: URL): Promise<Response> {
  d.signer.verify("cw", "u", id, url.searchParams, d.now());
  const comp = url.searchParams.get("comp");
  if (comp === "blocklist") await commitBlockList(d, id, parseBlockList(await readText(request, 8 * 1024 * 1024)));
  else if (comp === "block") await writeBlob(d, id, checkBlockId(url.searchParams.get("blockid")), requestBody(request), contentLength(request));
  else if (comp === null) {
    if (request.headers.get("x-ms-blob-type") !== "BlockBlob") throw new AppError("bad_request", "x-ms-blob-type: must be BlockBlob");
    await writeBlob(d, id, undefined, requestBody(request), contentLength(request));
  } else throw new AppError("bad_request", `comp=${comp} is not supported`);
  return new Response(null, { status: 201, headers: { ...azureHeaders(), "x-ms-request-server-encrypted": "false" } });
}

async function get(d: HttpDeps, request: Request, id: number, url: URL, withBody: boolean): Promise<Response> {
  d.signer.verify("r", "e", id, url.searchParams, d.now());
  const range = request.headers.get("x-ms-range") ?? request.headers.get("range"); // the Azure SDK sends x-ms-range
  const dl = await openDownload(d, id, range, withBody, request.headers.get(PEER_HEADER) === "1");
  const headers: Record<string, string> = {
    ...azureHeaders(), "accept-ranges": "bytes", "content-type": "application/octet-stream", "x-ms-blob-type": "BlockBlob",
    etag: dl.etag, "last-modified": dl.lastModified.toUTCString(),
  };
  const length = dl.range ? dl.range.end - dl.range.start + 1 : dl.size;
  headers["content-length"] = String(length);
  if (dl.range) headers["content-range"] = `bytes ${dl.range.start}-${dl.range.end}/${dl.size}`;
  return new Response(withBody ? dl.body : null, { status: dl.range ? 206 : 200, headers });
}

export function blobRoutes(d: HttpDeps) {
  const guard = async (fn: () => Promise<Response>) => {
    try {
      return await fn();
    } catch (e) {
      if (!isAppError(e)) d.log.error("blob request failed", { error: e });
      return blobError(e);
    }
  };
  return new Elysia({ prefix: "/blob/:account" })
    .put("/u/:id", ({ request, params }) => guard(() => put(d, request, parseId(params.id), new URL(request.url))), { parse: "none" })
    .get("/e/:id", ({ request, params }) => guard(() => get(d, request, parseId(params.id), new URL(request.url), true)))
    .head("/e/:id", ({ request, params }) => guard(() => get(d, request, parseId(params.id), new URL(request.url), false)));
}
