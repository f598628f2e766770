/**
 * The dashboard in headless Chromium (Debian's, driven by playwright-core; a fresh profile each launch) against a real stack:
 * the token from `nimbus up`'s link is taken and dropped from the address bar, jobs are listed, a
 * job shows its lifecycle and logs, log search finds a line, a running job is cancelled from the
 * page, agents are listed, and a refused token sends the user back to sign in.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { buildDashboard } from "../../web/build.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { githubStack } from "../github/support.ts";
import { shellQuote } from "../../src/core/shell.ts";

let s: TestStack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  await buildDashboard();
  s = await testStack({ agents: 1 });
  await s.waitAgents(1);
  browser = await launchChromium();
  page = await browser.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.destroy();
}, 60_000);

test("jobs, a job's lifecycle and logs, search, cancel, agents; the token never stays in the address bar", async () => {
  const done = await s.submit({ name: "greeting", command: ["sh", "-c", "echo alpha; echo 'the needle 42'; echo omega >&2"] });
  const long = await s.submit({ name: "long one", command: ["sh", "-c", "echo started; sleep 120"] });
  await s.waitJob(done.id);
  await s.waitJob(long.id, (j) => j.state === "running");

  await page.goto(`${s.controlUrl}/#token=${encodeURIComponent(s.adminToken)}`);
  await page.waitForSelector(`tr[data-job="${done.id}"]`);
  expect(page.url()).not.toContain("token=");
  expect(await page.textContent(`tr[data-job="${done.id}"] .badge`)).toBe("succeeded");
  expect(await page.textContent(`tr[data-job="${long.id}"] .badge`)).toBe("running");
  expect(await page.textContent("[data-testid=summary]")).toContain("1 running");

  await page.click(`tr[data-job="${done.id}"] a`);
  await page.waitForSelector(".line[data-n='1']");
  const lines = await page.$$eval(".loglines .line .t", (els) => els.map((e) => e.textContent));
  expect(lines).toEqual(expect.arrayContaining(["alpha", "the needle 42", "omega"]));
  expect(await page.$$eval(".timeline li", (els) => els.map((e) => e.getAttribute("data-to")))).toEqual(["queued", "leased", "booting", "running", "succeeded"]);
  expect(await page.textContent(".facts")).toContain("exit code0");
  // The command as it would be typed, quotes and all.
  expect(await page.textContent(".facts [data-command]")).toBe(`sh -c 'echo alpha; echo '\\''the needle 42'\\''; echo omega >&2'`);
  expect(await page.textContent(".facts [data-command]")).toBe(shellQuote(["sh", "-c", "echo alpha; echo 'the needle 42'; echo omega >&2"]));
  expect(await page.textContent(".facts [data-time]")).toMatch(/ · took \d/);
  await page.waitForSelector("[data-testid=latency] [data-span=totalMs]");
  expect(await page.textContent("[data-testid=latency]")).toMatch(/waited .*started in .*ran .*total /);

  await page.fill("input[aria-label='search logs']", "needle");
  await page.waitForSelector(".loglines mark");
  expect(await page.$$eval(".loglines .line .t", (els) => els.map((e) => e.textContent))).toEqual(["the needle 42"]);
  expect(await page.textContent(".loglines mark")).toBe("needle");

  await page.goto(`${s.controlUrl}/#/jobs/${long.id}`);
  await page.waitForSelector("button:has-text('Cancel')");
  await page.click("button:has-text('Cancel')");
  await page.waitForSelector(".jobhead .badge[data-state='cancelled']", { timeout: 20_000 });
  expect((await s.waitJob(long.id)).state).toBe("cancelled");

  // A job for a pool no agent serves (a VM job on a sandbox-only stack): the queue view says so.
  const stranded = await s.submit({ command: ["true"], labels: ["nimbus", "isolation:vm"] });
  await page.click("header.top nav a:has-text('Agents')");
  await page.waitForSelector("tr[data-agent]");
  expect(await page.textContent("tr[data-agent]")).toContain("sandbox");
  await page.waitForSelector(`tr[data-pool="${stranded.pool}"]`);
  expect(await page.textContent(`tr[data-pool="${stranded.pool}"]`)).toContain("no agent: jobs here wait");

  // A job no agent has taken reads as waiting, in the list and on its page; never "running for" or "took".
  await page.goto(`${s.controlUrl}/#/jobs`);
  await page.waitForSelector(`tr[data-job="${stranded.id}"] [data-time]`);
  expect(await page.textContent(`tr[data-job="${stranded.id}"] [data-time]`)).toMatch(/^waiting \d/);
  expect(await page.textContent(`tr[data-job="${stranded.id}"] .what`)).toBe("true");
  await page.goto(`${s.controlUrl}/#/jobs/${stranded.id}`);
  await page.waitForSelector(".facts [data-time]");
  expect(await page.textContent(".facts [data-time]")).toMatch(/ · waiting \d/);
}, 90_000);

test("no token or a refused one: the sign-in form, naming why", async () => {
  await page.goto(`${s.controlUrl}/#token=not-a-token`);
  await page.waitForSelector("form.login");
  expect(await page.textContent("form.login")).toContain("The token was refused");
  await page.fill("input[aria-label='token']", s.adminToken);
  await page.click("form.login button");
  await page.waitForSelector("table.jobs");
  await page.click("button:has-text('Sign out')");
  await page.waitForSelector("form.login");
  expect(await page.textContent("form.login")).not.toContain("refused");
}, 30_000);

test("organisations: a member of org A sees only A's jobs; the operator switches to org B and back to every org", async () => {
  const member = async (org: string) => await s.token({ sub: `dev-${org}`, role: "member", org, ttlSeconds: 600 });
  const [tokA, tokB] = [await member("org-a"), await member("org-b")];
  const submitAs = async (tok: string, name: string) =>
    (await s.api<{ job: { id: string } }>("/api/jobs", { method: "POST", json: { name, command: ["true"], labels: ["nimbus", "isolation:vm"] }, token: tok })).body.job.id;
  const a = await submitAs(tokA, "a's job");
  const b = await submitAs(tokB, "b's job");

  const p = await browser.newPage();
  try {
    await p.goto(`${s.controlUrl}/#token=${encodeURIComponent(tokA)}`);
    await p.waitForSelector(`tr[data-job="${a}"]`);
    expect(await p.$$eval("tr[data-job]", (rows) => rows.map((r) => r.getAttribute("data-job")))).toEqual([a]);
    expect(await p.textContent("[data-testid=org]")).toBe("org-a");
    expect(await p.$("select[aria-label=organisation]")).toBeNull(); // a member cannot switch
    expect(await p.$("th:has-text('org')")).toBeNull();
    expect(await p.textContent("[data-testid=summary]")).toContain("1 queued");
    // B's job by its address: the API says it does not exist.
    await p.goto(`${s.controlUrl}/#/jobs/${b}`);
    await p.waitForSelector(".error");
    expect(await p.textContent("main")).toContain("not found");
    expect(await p.textContent("main")).not.toContain("b's job");
  } finally {
    await p.close();
  }

  const op = await browser.newPage();
  try {
    await op.goto(`${s.controlUrl}/#token=${encodeURIComponent(s.adminToken)}`);
    await op.waitForSelector(`tr[data-job="${b}"]`);
    expect(await op.textContent(`tr[data-job="${a}"] [data-org]`)).toBe("org-a"); // every org: each job names its own
    await op.waitForSelector("select[aria-label=organisation] option[value=org-b]", { state: "attached" });
    await op.selectOption("select[aria-label=organisation]", "org-b");
    await op.waitForSelector(`tr[data-job="${a}"]`, { state: "detached" });
    expect(await op.$$eval("tr[data-job]", (rows) => rows.map((r) => r.getAttribute("data-job")))).toEqual([b]);
    await op.waitForFunction(() => document.querySelector("[data-testid=summary]")?.textContent?.includes("1 queued"));
    // Typed: an org with no jobs yet shows none.
    await op.fill("input[aria-label='another organisation']", "org-z");
    await op.press("input[aria-label='another organisation']", "Enter");
    await op.waitForSelector("p.empty");
    expect(await op.$eval("select[aria-label=organisation]", (e) => (e as HTMLSelectElement).value)).toBe("org-z");
    await op.selectOption("select[aria-label=organisation]", "");
    await op.waitForSelector(`tr[data-job="${a}"]`);
    await op.waitForSelector(`tr[data-job="${b}"]`);
  } finally {
    await op.close();
  }
  for (const id of [a, b]) await s.api(`/api/jobs/${id}/cancel`, { method: "POST" });
}, 60_000);

test("the page and its assets are served; an unknown asset is 404", async () => {
  const html = await fetch(`${s.controlUrl}/`);
  expect(html.status).toBe(200);
  expect(html.headers.get("content-type")).toContain("text/html");
  const pageHtml = await html.text();
  const src = /src="(\/ui\/app\.js\?v=[0-9a-f]+)"/.exec(pageHtml)?.[1];
  expect(src).toBeDefined();
  expect((await fetch(`${s.controlUrl}${src}`)).headers.get("cache-control")).toContain("immutable");
  expect((await fetch(`${s.controlUrl}/ui/secrets.txt`)).status).toBe(404);
  // The icon the page links, and the one browsers ask for unasked: no 404 in the console.
  expect(pageHtml).toMatch(/<link rel="icon" href="\/favicon\.svg\?v=[0-9a-f]+"/);
  for (const path of ["/favicon.ico", "/favicon.svg"]) {
    const r = await fetch(`${s.controlUrl}${path}`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("image/svg+xml");
    expect(await r.text()).toStartWith("<svg");
  }
  // The relayed logs need the admin token like every /api route.
  expect((await fetch(`${s.controlUrl}/api/jobs/${"j".repeat(8)}/logs`)).status).toBe(401);
});

test("a GitHub job's page: where it lives on GitHub, its conclusion, the runner that took it, where the time went", async () => {
  const g = await githubStack({ agents: 1 });
  try {
    const gh = g.sim.queueJob({ labels: ["self-hosted", "nimbus"], steps: ["echo from a workflow step"] });
    const id = `gh-${gh.id}`;
    await g.stack.waitJob(id, (j) => j.state === "succeeded", 60_000);
    const p = await browser.newPage();
    await p.goto(`${g.stack.controlUrl}/#token=${encodeURIComponent(g.stack.adminToken)}`);
    await p.goto(`${g.stack.controlUrl}/#/jobs/${id}`);
    await p.waitForSelector(".facts.github");
    const panel = (await p.textContent(".facts.github"))!;
    expect(panel).toContain(`${g.sim.org}/${g.sim.repos[0]}`);
    expect(panel).toContain("conclusionsuccess");
    expect(panel).toContain(`nimbus-${id}-1 (attempt 1) · took this job`);
    expect(await p.$("[data-testid=borrowed]")).toBeNull(); // its own runner ran it
    await p.waitForSelector("[data-testid=latency] [data-span=startupMs]");
    await p.waitForSelector(".loglines .line");
    expect(await p.textContent(".loglines")).toContain("from a workflow step");
    await p.close();
  } finally {
    await g.destroy();
  }
}, 90_000);

test("the registry in the overview: the header counts the org's repositories and bytes; the Registry page lists usage and repositories, each org its own", async () => {
  const push = async (org: string, repo: string, seed: string) => {
    const tok = await s.token({ sub: `pusher-${org}`, role: "org-admin", org, ttlSeconds: 600 });
    const bytes = new TextEncoder().encode(`{"os":"linux","seed":"${seed}"}`);
    const digest = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
    const auth = { authorization: `Bearer ${tok}` };
    const post = await fetch(`${s.registryUrl}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", headers: { ...auth, "content-type": "application/octet-stream" }, body: bytes });
    expect(post.status).toBe(201);
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest, size: bytes.length }, layers: [] });
    const put = await fetch(`${s.registryUrl}/v2/${repo}/manifests/v1`, { method: "PUT", headers: { ...auth, "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: manifest });
    expect(put.status).toBe(201);
    return tok;
  };
  const tokA = await push("reg-a", "reg-a/app", "a");
  await push("reg-a", "reg-a/web", "a2");
  await push("reg-b", "reg-b/secret-app", "b");

  const p = await browser.newPage();
  try {
    await p.goto(`${s.controlUrl}/#token=${encodeURIComponent(tokA)}`);
    await p.waitForSelector("[data-testid=registry-summary]");
    expect(await p.textContent("[data-testid=registry-summary]")).toMatch(/^2 repositories, \d+ B$/);
    await p.click("header.top nav a:has-text('Registry')");
    await p.waitForSelector("tr[data-repo='reg-a/app']");
    expect(await p.$$eval("tr[data-repo]", (rows) => rows.map((r) => r.getAttribute("data-repo")))).toEqual(["reg-a/app", "reg-a/web"]);
    expect(await p.$$eval("tr[data-org]", (rows) => rows.map((r) => r.getAttribute("data-org")))).toEqual(["reg-a"]);
    expect(await p.textContent("tr[data-org='reg-a']")).toContain("none"); // no quota set
    expect(await p.textContent("main")).not.toContain("reg-b");
  } finally {
    await p.close();
  }

  // The operator sees every org's, and one org's when it picks one.
  const op = await browser.newPage();
  try {
    await op.goto(`${s.controlUrl}/#token=${encodeURIComponent(s.adminToken)}`);
    await op.click("header.top nav a:has-text('Registry')");
    await op.waitForSelector("tr[data-repo='reg-b/secret-app']");
    expect(await op.$$eval("tr[data-org]", (rows) => rows.map((r) => r.getAttribute("data-org")))).toEqual(expect.arrayContaining(["reg-a", "reg-b"]));
    await op.fill("input[aria-label='another organisation']", "reg-b");
    await op.press("input[aria-label='another organisation']", "Enter");
    await op.waitForSelector("tr[data-repo='reg-a/app']", { state: "detached" });
    expect(await op.$$eval("tr[data-repo]", (rows) => rows.map((r) => r.getAttribute("data-repo")))).toEqual(["reg-b/secret-app"]);
    await op.waitForFunction(() => document.querySelector("[data-testid=registry-summary]")?.textContent?.startsWith("1 repository"));
  } finally {
    await op.close();
  }
}, 60_000);
