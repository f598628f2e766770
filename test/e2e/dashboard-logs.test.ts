/**
 * The dashboard's Logs page in headless Chromium against a real stack: a query across the org's jobs
 * shows the histogram and the matching lines, newest first; a result opens its job at that line; a bad
 * query shows the server's positioned error; a member of another org sees none of these lines.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { buildDashboard } from "../../web/build.ts";
import { testStack, type TestStack } from "../support/stack.ts";

let s: TestStack;
let browser: Browser;
let page: Page;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  await buildDashboard();
  s = await testStack({ agents: 1 });
  await s.waitAgents(1);
  for (const org of ["acme", "globex"]) tokens[org] = await s.token({ sub: `web-${org}`, role: "member", org, ttlSeconds: 3600 });
  const run = async (org: string, script: string) => {
    const r = await s.api<{ job: { id: string } }>("/api/jobs", { method: "POST", json: { name: `${org} job`, command: ["sh", "-c", script] }, token: tokens[org] });
    return (await s.waitJob(r.body.job.id)).id;
  };
  await run("acme", "echo 'gizmo one'; echo '##[error]gizmo broke'; exit 1");
  await run("acme", "for i in 1 2 3 4 5 6 7 8 9; do echo filler $i; done; echo 'gizmo two'");
  await run("globex", "echo 'gizmo of globex'");
  browser = await launchChromium();
  page = await browser.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.destroy();
}, 60_000);

test("search across the org's jobs, the histogram, a result opening its job at the line, a bad query's error", async () => {
  await page.goto(`${s.controlUrl}/#token=${encodeURIComponent(tokens.acme!)}`);
  await page.waitForSelector("[data-testid=summary]");
  await page.click("nav a:text('Logs')");
  await page.fill("input[aria-label='log search query']", "gizmo");
  await page.click("form.logbar button[type=submit]");
  await page.waitForSelector("[data-testid=histogram] .bar");
  await page.waitForSelector(".hit");
  expect(await page.$$eval(".hit .t", (els) => els.map((e) => e.textContent))).toEqual(["gizmo two", "##[error]gizmo broke", "gizmo one"]);
  expect(await page.getAttribute(".hit:nth-child(2)", "class")).toContain("error");
  expect(await page.textContent("[data-testid=hit-count]")).toContain("3 matching lines");
  // The address keeps the query: a reload or a shared link shows the same search.
  expect(decodeURIComponent(page.url())).toContain("#/logs?q=gizmo");
  await page.click(".hit:first-child");
  await page.waitForSelector(".line.focus");
  expect(await page.textContent(".line.focus .t")).toBe("gizmo two");
  expect(await page.getAttribute(".line.focus", "data-n")).toBe("9");

  await page.goto(`${s.controlUrl}/#/logs?q=${encodeURIComponent('gizmo "unclosed')}`);
  await page.waitForSelector("[data-testid=search-error]");
  expect(await page.textContent("[data-testid=search-error]")).toContain("at 7: a phrase that is not closed");
}, 60_000);

test("another org's member finds only its own lines", async () => {
  const other = await browser.newPage();
  await other.goto(`${s.controlUrl}/#token=${encodeURIComponent(tokens.globex!)}`);
  await other.waitForSelector("[data-testid=summary]");
  await other.goto(`${s.controlUrl}/#/logs?q=gizmo`);
  await other.waitForSelector(".hit");
  expect(await other.$$eval(".hit .t", (els) => els.map((e) => e.textContent))).toEqual(["gizmo of globex"]);
  await other.close();
}, 60_000);
