/**
 * A job's registry login end to end on a `nimbus up` test stack: a GitHub workflow job whose JIT
 * runner runs in a sandbox with a network (its own namespace on the agent's bridge) finds the
 * Docker config.json the agent wrote from its registry credential (NIMBUS_AGENT_REGISTRY_URL, set
 * by the supervisor), and unmodified skopeo in the job, through the token flow, inspects its org's
 * image on the registry at the job's gateway and is refused another org's.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { waitFor } from "../support/net.ts";
import { githubStack, type GithubStack } from "../github/support.ts";
import { client, imageManifest } from "./support/http.ts";
import { sha256 } from "./support/service.ts";

let g: GithubStack;
const config = new TextEncoder().encode('{"os":"linux","architecture":"amd64"}');

beforeAll(async () => {
  // Jobs reach the registry on their gateway: it listens beyond loopback (as `nimbus up` makes it with guest networking).
  g = await githubStack({ agents: 1, registryEnv: { NIMBUS_REGISTRY_HOST: "0.0.0.0" }, controlEnv: { NIMBUS_GITHUB_RECONCILE_INTERVAL_MS: "200", NIMBUS_GITHUB_POLL_INTERVAL_MS: "1000" } });
}, 60_000);
afterAll(async () => {
  await g?.destroy();
}, 30_000);

async function pushImage(org: string): Promise<string> {
  const op = client(g.stack.registryUrl, await g.stack.token({ sub: "ops", role: "operator", ttlSeconds: 600 }));
  await op.pushBlob(`${org}/app`, config);
  const manifest = JSON.stringify(imageManifest(config, []));
  expect((await op.putManifest(`${org}/app`, "v1", manifest)).status).toBe(201);
  return sha256(manifest);
}

test("a runner's job logs in with its config.json: its org's image inspects, another org's is refused", async () => {
  const org = g.sim.org.toLowerCase();
  const digest = await pushImage(org);
  await pushImage("other-org");
  const host = `H=$(sed -E 's/^[{]"auths":[{]"([^"]+)".*/\\1/' "$REGISTRY_AUTH_FILE")`;
  const ghJob = g.sim.queueJob({
    labels: ["self-hosted", "nimbus"],
    steps: [
      `test "$(stat -c %a "$REGISTRY_AUTH_FILE")" = 600 && test -z "$NIMBUS_DOCKER_CONFIG_JSON" && echo auth-file-ok`,
      `${host}; skopeo inspect --tls-verify=false "docker://$H/${org}/app:v1" | grep -o 'sha256:[0-9a-f]*' | head -1 | sed 's/^/own=/'`,
      `${host}; if skopeo inspect --tls-verify=false "docker://$H/other-org/app:v1" >/dev/null 2>err; then echo other=leaked; else echo other=refused; grep -o 'unknown' err | head -1; fi`,
    ],
  });
  const id = `gh-${ghJob.id}`;
  await waitFor(async () => (await g.stack.api(`/api/jobs/${id}`)).status === 200, 10_000, "job created from the webhook");
  const job = await g.stack.waitJob(id, undefined, 60_000);
  let lines: { text: string }[] = [];
  await waitFor(async () => (lines = (await g.stack.logs(id)) ?? []).some((l) => l.text.includes("completed with result")), 10_000, "logs shipped");
  const text = lines.map((l) => l.text);
  expect(job.org).toBe(org);
  expect(job.state).toBe("succeeded");
  expect(text).toContain("auth-file-ok");
  expect(text).toContain(`own=${digest}`);
  expect(text).toContain("other=refused");
  expect(text).toContain("unknown");
  expect(text).not.toContain("other=leaked");
}, 90_000);
