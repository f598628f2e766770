/**
 * The token endpoint over HTTP (the Docker token-auth spec), for the registry to mount beside its
 * distribution API:
 * - `GET /v2/token?service=…&scope=…&scope=…[&account=…][&offline_token=true]`, credentials by Basic
 *   auth (any user name, a Nimbus token or a job's registry credential as the password) or Bearer;
 *   no credentials: an anonymous token (public pulls only);
 * - `POST /v2/token`, an `application/x-www-form-urlencoded` form (the OAuth2 flow docker and
 *   containerd use): `grant_type=password` with `username`/`password`, or `grant_type=refresh_token`
 *   with `refresh_token`; `scope` space-separated; `access_type=offline` adds a refresh token.
 * Errors are the distribution spec's JSON (`{"errors":[{code,message}]}`; the POST form adds OAuth2's
 * `error`); a refused credential is a 401 with a Basic challenge.
 */
import { Elysia } from "elysia";
import { AppError, isAppError } from "../../core/errors.ts";
import { readBodyText } from "../../http/common.ts";
import type { Logger } from "../../core/log.ts";
import { credentialOf } from "./access.ts";
import type { RegistryAuthDeps } from "./identity.ts";
import { issueToken, type TokenRequest } from "./issue.ts";
import { parseScopes } from "./scope.ts";
import { REGISTRY_SERVICE } from "./token.ts";

/** A token request's form or query is small: a few scopes and a credential. */
export const MAX_TOKEN_REQUEST_BYTES = 32 * 1024;
/** The GET form's query (Bun itself answers 431 to request heads past its own, larger limit). */
export const MAX_TOKEN_QUERY_BYTES = 8 * 1024;
const MAX_ACCOUNT = 256;

const OCI_OF: Partial<Record<string, string>> = { unauthorized: "UNAUTHORIZED", forbidden: "DENIED", payload_too_large: "SIZE_INVALID" };
const OAUTH_OF: Partial<Record<string, string>> = { unauthorized: "invalid_grant", bad_request: "invalid_request", payload_too_large: "invalid_request" };

function errorReply(e: unknown, log: Logger, oauth: boolean): Response {
  const err = isAppError(e) ? e : new AppError("internal", "internal error");
  if (!isAppError(e)) log.error("registry token request failed", { error: e });
  const code = (err.details?.ociCode as string | undefined) ?? OCI_OF[err.code] ?? "UNSUPPORTED";
  const body: Record<string, unknown> = { errors: [{ code, message: err.message }] };
  if (oauth) Object.assign(body, { error: OAUTH_OF[err.code] ?? "server_error", error_description: err.message });
  const headers: Record<string, string> = { "content-type": "application/json", "docker-distribution-api-version": "registry/2.0" };
  if (err.status === 401) headers["www-authenticate"] = `Basic realm="${REGISTRY_SERVICE}"`;
  return new Response(JSON.stringify(body), { status: err.status, headers });
}

function ok(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", "cache-control": "no-store", "docker-distribution-api-version": "registry/2.0" } });
}

function checkAccount(account: string | null): void {
  if (account !== null && (account.length > MAX_ACCOUNT || /[\u0000-\u001f]/.test(account)))
    throw new AppError("bad_request", `account must be at most ${MAX_ACCOUNT} printable characters`, { ociCode: "UNSUPPORTED" });
}

/** The GET form: everything in the query, the credential in the Authorization header. */
export function getRequest(request: Request): TokenRequest {
  const url = new URL(request.url);
  if (url.search.length > MAX_TOKEN_QUERY_BYTES) throw new AppError("payload_too_large", `the token request's query is over ${MAX_TOKEN_QUERY_BYTES} bytes`);
  const q = url.searchParams;
  checkAccount(q.get("account"));
  const credential = credentialOf(request);
  if (credential === "") throw new AppError("unauthorized", "malformed Authorization header: use Basic (any user, a Nimbus token as password) or Bearer");
  return { credential, service: q.get("service"), scopes: parseScopes(q.getAll("scope")), offline: q.get("offline_token") === "true" };
}

/** The POST form (OAuth2 password or refresh_token grant). */
export function postRequest(form: URLSearchParams): TokenRequest {
  const grant = form.get("grant_type");
  checkAccount(form.get("username"));
  let credential: string | null;
  if (grant === "password") credential = form.get("password");
  else if (grant === "refresh_token") credential = form.get("refresh_token");
  else throw new AppError("bad_request", `grant_type must be password or refresh_token, not ${JSON.stringify(String(grant).slice(0, 40))}`, { ociCode: "UNSUPPORTED" });
  if (!credential) throw new AppError("unauthorized", `grant_type=${grant} needs ${grant === "password" ? "a password (a Nimbus token)" : "a refresh_token"}`);
  return { credential, service: form.get("service"), scopes: parseScopes(form.getAll("scope")), offline: form.get("access_type") === "offline" };
}

async function readForm(request: Request): Promise<URLSearchParams> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") throw new AppError("bad_request", "the token form must be application/x-www-form-urlencoded", { ociCode: "UNSUPPORTED" });
  return new URLSearchParams(await readBodyText(request, MAX_TOKEN_REQUEST_BYTES));
}

function answer(r: Awaited<ReturnType<typeof issueToken>>): Response {
  const { granted: _granted, ...body } = r;
  return ok(body);
}

/** The token routes (`/v2/token`, GET and POST), an Elysia plugin the registry's app mounts first. */
export function registryAuthRoutes(deps: RegistryAuthDeps, log: Logger) {
  return new Elysia({ name: "registry-auth" })
    .get("/v2/token", async ({ request }) => {
      try {
        return answer(await issueToken(deps, getRequest(request)));
      } catch (e) {
        return errorReply(e, log, false);
      }
    })
    .post("/v2/token", async ({ request }) => {
      try {
        return answer(await issueToken(deps, postRequest(await readForm(request))));
      } catch (e) {
        return errorReply(e, log, true);
      }
    }, { parse: "none" });
}
