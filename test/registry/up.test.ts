/**
 * `nimbus up` starts the registry like the cache: its own process on the port base + 5, data under
 * the data dir, tokens from the stack's ledger; a restart keeps what was pushed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { testStack, type TestStack } from "../support/stack.ts";
import { client } from "./support/http.ts";
import { seeded, sha256 } from "./support/service.ts";

let stack: TestStack;
beforeAll(async () => {
  stack = await testStack({ agents: 0 });
});
afterAll(() => stack.destroy());

test("the registry runs under the supervisor, answers with the stack's tokens and keeps blobs across a restart", async () => {
  expect(stack.children.has("registry")).toBe(true);
  expect((await fetch(`${stack.registryUrl}/healthz`)).status).toBe(200);
  const admin = client(stack.registryUrl, stack.adminToken);
  expect((await admin.call("GET", "/v2/")).status).toBe(200);
  const member = client(stack.registryUrl, await stack.token({ sub: "dev", role: "member", org: "acme", ttlSeconds: 600 }));
  const blob = seeded("up", 1234);
  await member.pushBlob("acme/up", blob);
  expect(existsSync(join(stack.dataDir, "registry", "blobs", "sha256", sha256(blob).slice(7, 9), sha256(blob).slice(7)))).toBe(true);
  await stack.restart("registry");
  const got = await member.call("GET", `/v2/acme/up/blobs/${sha256(blob)}`);
  expect(got.status).toBe(200);
  expect(Buffer.compare(got.bytes, blob)).toBe(0);
});
