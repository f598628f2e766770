/**
 * The dashboard's tokens page in headless Chromium against a real stack: reached from the header, it
 * lists the ledger, mints a token (shown once, and the stack accepts it), and revokes it (refused after).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/browser.ts";
import { buildDashboard } from "../../web/build.ts";
import { testStack, type TestStack } from "../support/stack.ts";
import { waitFor } from "../support/net.ts";

let s: TestStack;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  await buildDashboard();
  s = await testStack({ agents: 0 });
  browser = await launchChromium();
  page = await browser.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.destroy();
}, 60_000);

test("tokens page: list, mint (shown once, accepted by the stack), revoke (refused after)", async () => {
  await page.goto(`${s.controlUrl}/#token=${encodeURIComponent(s.adminToken)}`);
  await page.click("header nav a:has-text('Tokens')");
  await page.waitForSelector("table.tokens tr[data-token]");
  // The stack's own tokens: its operator token is listed, minted by the bootstrap.
  expect(await page.$$eval("table.tokens tr[data-token]", (rows) => rows.map((r) => r.children[3]!.textContent))).toContain("admin");

  await page.selectOption("select[aria-label='role']", "operator");
  expect(await page.$("input[aria-label='organisation']")).toBeNull(); // an operator token belongs to no organisation
  await page.fill("input[aria-label='name']", "carol");
  await page.fill("input[aria-label='ttl']", "2h");
  await page.click("form.mint button[type=submit]");
  await page.waitForSelector("[data-testid=minted]");
  const minted = await page.inputValue("input[aria-label='new token']");
  const id = (await page.textContent("[data-testid=minted] .mono"))!;
  expect(id).toMatch(/^t-/);
  expect((await s.api("/api/jobs", { token: minted })).status).toBe(200);
  await page.waitForSelector(`tr[data-token="${id}"][data-state=active]`);
  expect(await page.textContent(`tr[data-token="${id}"]`)).toContain("carol");
  await page.click("[data-testid=minted] button:has-text('Done')");
  expect(await page.$("[data-testid=minted]")).toBeNull(); // shown once: gone, and the list never holds it
  expect(await page.content()).not.toContain(minted);

  page.once("dialog", (d) => void d.accept());
  await page.click(`tr[data-token="${id}"] button:has-text('Revoke')`);
  await page.waitForSelector(`tr[data-token="${id}"][data-state=revoked]`);
  await waitFor(async () => (await s.api("/api/jobs", { token: minted })).status === 401, 5000, "the revoked token refused");

  // A refused mint names why.
  await page.selectOption("select[aria-label='role']", "member");
  await page.fill("input[aria-label='name']", "dave");
  await page.fill("input[aria-label='organisation']", "");
  await page.click("form.mint button[type=submit]");
  expect(await (await page.waitForSelector("[data-testid=mint-error]")).textContent()).toContain("organisation");
}, 60_000);
