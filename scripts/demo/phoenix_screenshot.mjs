// Screenshots Phoenix's trace view with a span's Attributes tab open (headless Chromium via
// playwright-core; no browser download: it drives the system's chromium).
//
//   node scripts/demo/phoenix_screenshot.mjs URL OUT.png [--height PX] [--search TEXT]
//
// URL is a Phoenix trace page, e.g.
//   http://127.0.0.1:6006/projects/<project id>/traces/<trace id>?selectedSpanNodeId=<span id>
// --height PX sets the window height (default 1000; width 1600).
// --search TEXT scrolls the attributes view so the first occurrence of TEXT is in sight.
// NODE_PATH must reach playwright-core (scripts/demo/e2e-phoenix.sh installs it under .venv-phoenix/node).
// CHROMIUM overrides the browser (default /usr/bin/chromium).

import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), "x.js"));
const { chromium } = require("playwright-core");

const [url, out, ...rest] = process.argv.slice(2);
if (!url || !out) {
  console.error("usage: node phoenix_screenshot.mjs URL OUT.png [--height PX] [--search TEXT]");
  process.exit(2);
}
const opt = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : null;
};
const search = opt("--search");
const height = Number(opt("--height") || 1000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1600, height } });
  // Loopback only: anything else the page asks for is refused.
  await page.route("**/*", (route) => {
    const u = new URL(route.request().url());
    return ["127.0.0.1", "localhost"].includes(u.hostname) ? route.continue() : route.abort();
  });
  await page.goto(url, { waitUntil: "networkidle", timeout: 60_000 });
  const tab = page.getByRole("tab", { name: /^Attributes/ });
  await tab.first().waitFor({ timeout: 30_000 });
  await tab.first().click();
  await page.waitForTimeout(1500);
  if (search) {
    const hit = page.getByText(search, { exact: false }).first();
    await hit.waitFor({ timeout: 15_000 });
    await hit.scrollIntoViewIfNeeded();
    await page.waitForTimeout(500);
  }
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
