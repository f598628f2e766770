/** Debian's headless Chromium, driven by playwright-core with a fresh profile each launch (the dashboard tests). */
import { chromium, type Browser } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  if (!(await Bun.file(CHROMIUM).exists())) throw new Error("chromium is missing: apt-get install chromium (scripts/setup.sh installs it as root)");
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
